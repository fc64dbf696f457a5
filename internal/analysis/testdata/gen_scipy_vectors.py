#!/usr/bin/env python3
"""Regenerate scipy_vectors.json: extra reference values for the analysis
package, computed with the same library versions as shared/testdata
(scipy 1.10.1, scikit-learn 1.2.1, statsmodels 0.13.5 — Debian bookworm's
python3-scipy python3-sklearn python3-statsmodels).

    /usr/bin/python3 internal/analysis/testdata/gen_scipy_vectors.py > internal/analysis/testdata/scipy_vectors.json
"""
import json
import sys

import numpy as np
import scipy
import sklearn
import statsmodels
from scipy import stats
from sklearn import metrics
from statsmodels.stats.contingency_tables import mcnemar

rng = np.random.default_rng(20261125)
out = {"generated_with": f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, statsmodels {statsmodels.__version__}", "kstwo": [], "ks_2samp": [], "smirnov": [], "mcnemar": [], "classification": [], "chisquare": []}

# Kolmogorov distribution: every branch of scipy's _kolmogn.
for n in [1, 2, 3, 5, 10, 40, 100, 140, 141, 500, 1000, 5000, 20000, 100000, 200000]:
    for x in [0.001, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.45, 0.5, 0.6, 0.8, 0.95, 1.0 / n + 1e-9, 0.5 / n + 1e-9, 0.75 / n, 1 - 1.0 / n]:
        if not (0 < x < 1):
            continue
        out["kstwo"].append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n)), "cdf": float(stats.kstwo.cdf(x, n))})
    for z in [0.3, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0]:
        x = z / np.sqrt(n)
        if 0 < x < 1:
            out["kstwo"].append({"n": n, "x": float(x), "sf": float(stats.kstwo.sf(x, n)), "cdf": float(stats.kstwo.cdf(x, n))})

for n in [2, 5, 10, 50, 140, 1000, 10000, 100000]:
    for x in [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 0.7, 0.9]:
        out["smirnov"].append({"n": n, "x": x, "sf": float(scipy.special.smirnov(n, x))})

# Two-sample KS on random samples: exact (equal and unequal sizes, ties) and
# asymptotic (a sample above 10,000).
cases = [(5, 7, 0.0), (20, 20, 0.3), (50, 80, 0.2), (100, 100, 0.0), (300, 450, 0.15),
         (891, 500, 0.1), (1000, 1000, 0.05), (999, 1001, 0.1), (2000, 3000, 0.08),
         (10000, 9999, 0.03), (12000, 800, 0.1), (15000, 20000, 0.02), (30, 10001, 0.4)]
for n1, n2, shift in cases:
    a = rng.normal(0, 1, n1)
    b = rng.normal(shift, 1, n2)
    a, b = np.round(a, 5), np.round(b, 5)  # keeps the file small
    if n1 == 100:  # ties
        a = np.round(a, 1)
        b = np.round(b, 1)
    r = stats.ks_2samp(a, b, method="auto")
    out["ks_2samp"].append({"reference": a.tolist(), "current": b.tolist(), "statistic": float(r.statistic), "pvalue": float(r.pvalue)})

for b, c in [(0, 0), (1, 0), (5, 5), (10, 2), (2, 10), (25, 40), (100, 140), (3000, 3200)]:
    r = mcnemar([[50, b], [c, 50]], exact=True)
    out["mcnemar"].append({"b": b, "c": c, "statistic": float(r.statistic), "pvalue": float(r.pvalue)})

for n in [50, 500]:
    y = rng.integers(0, 2, n)
    s = np.clip(rng.beta(2, 2, n) * 0.6 + y * 0.3, 0, 1)
    s = np.round(s, 2)  # ties
    s[0], s[1] = 0.0, 1.0  # clipping in log-loss
    yp = (s >= 0.5).astype(int)
    out["classification"].append({
        "y_true": y.tolist(), "y_score": s.tolist(), "threshold": 0.5,
        "accuracy": metrics.accuracy_score(y, yp),
        "precision": metrics.precision_score(y, yp, zero_division=0),
        "recall": metrics.recall_score(y, yp, zero_division=0),
        "f1": metrics.f1_score(y, yp, zero_division=0),
        "roc_auc": metrics.roc_auc_score(y, s),
        "log_loss": metrics.log_loss(y, s, eps=1e-15),
        "brier": metrics.brier_score_loss(y, s),
    })

for obs, exp in [([10, 20, 30, 40], [25, 25, 25, 25]), ([500, 480, 20], [490, 490, 20]), ([1, 2, 300, 7, 9, 10], None)]:
    r = stats.chisquare(obs, exp)
    out["chisquare"].append({"f_obs": obs, "f_exp": exp, "statistic": float(r.statistic), "pvalue": float(r.pvalue)})

json.dump(out, sys.stdout)

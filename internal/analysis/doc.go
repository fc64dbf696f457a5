// Package analysis turns recorded traffic into answers: drift statistics
// against a training reference, live per-model metrics, label-free
// performance estimates and the challenger-versus-production comparison.
// Everything here is a pure function or a single-goroutine accumulator; no
// I/O except ReadCSV on a caller's reader.
//
// # Conventions
//
// Every statistic reproduces a reference implementation users know, and the
// tests check it against values computed with that implementation
// (shared/testdata/stats_vectors.json and testdata/scipy_vectors.json, scipy
// 1.10.1, scikit-learn 1.2.1, statsmodels 0.13.5):
//
//   - KS2Samp: scipy.stats.ks_2samp(method="auto"), two-sided. Exact p-value
//     (lattice-path counting, scipy's algorithms) when both samples have at
//     most 10,000 values; otherwise kstwo.sf(D, round(n·m/(n+m))) with
//     round-half-to-even, and KolmogorovSF implements kstwo exactly as scipy
//     chooses between Ruben–Gambino, Durbin/MTW, Pomeranz, Pelz–Good and
//     2·Smirnov.
//   - ChiSquare, DriftChiSquare, Chi2Contingency: Pearson χ² with gonum's
//     incomplete gamma tail; the drift form tests current counts against
//     reference proportions × current n (Evidently), and a category unseen in
//     the reference gives χ² = +Inf, p = 0.
//   - ZTestProportions: pooled two-proportion z-test, p = erfc(|z|/√2).
//   - Wasserstein1(Weighted): scipy.stats.wasserstein_distance;
//     WassersteinNormed divides by max(population std of the reference,
//     0.001) (Evidently).
//   - JensenShannon: scipy.spatial.distance.jensenshannon (a distance, the
//     square root of the divergence), natural log unless a base is given.
//     KLDivergence: scipy.stats.entropy(p, q). Hellinger: (1/√2)‖√p − √q‖.
//   - PSI: Σ (cur − ref)·ln(cur/ref) over proportions with empty bins set to
//     0.0001; numeric columns use 10 bins cut at the reference deciles.
//   - Classification metrics: scikit-learn (precision/recall/F1 with
//     zero_division=0, roc_auc_score with ties averaged, log_loss clipped at
//     1e-15, brier_score_loss).
//   - McNemarExact: statsmodels mcnemar(exact=True). PairedAccuracyDiff:
//     Wald interval for the difference of paired proportions.
//   - CBPE: NannyML's confidence-based performance estimation.
//
// docs/ANALYSIS.md has the definitions, the drift method choice, which live
// figures are exact and what memory each needs.
package analysis

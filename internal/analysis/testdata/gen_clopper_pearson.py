# Clopper-Pearson bounds by bisection on the binomial tail equations with mpmath (50 digits):
# lo solves P(X >= k | p) = a/2, hi solves P(X <= k | p) = a/2.
import mpmath as mp
mp.mp.dps = 50
def tail_ge(k, n, p):  # P(X >= k), k >= 1
    return mp.betainc(k, n - k + 1, 0, p, regularized=True)
def bisect(f, increasing):
    a, b = mp.mpf(0), mp.mpf(1)
    for _ in range(200):
        m = (a + b) / 2
        if (f(m) < 0) == increasing: a = m
        else: b = m
    return (a + b) / 2
def cp(k, n, al=mp.mpf('0.05')):
    lo = mp.mpf(0) if k == 0 else bisect(lambda p: tail_ge(k, n, p) - al/2, True)
    hi = mp.mpf(1) if k == n else bisect(lambda p: (1 - tail_ge(k+1, n, p)) - al/2, False)
    return lo, hi
for k, n in [(7,50),(0,10),(10,10),(14,31),(30,40),(1,2),(9,28)]:
    lo, hi = cp(k, n)
    print(k, n, mp.nstr(lo, 17), mp.nstr(hi, 17))

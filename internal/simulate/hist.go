package simulate

import (
	"math"
	"sync/atomic"
	"time"
)

// Histogram buckets latencies logarithmically: bucket 0 holds everything
// under 1 µs, bucket i ≥ 1 holds [1.01^(i-1), 1.01^i) µs, so a quantile is
// off by at most 0.5 % of its value; the last bucket holds everything above
// ~20 minutes. Count and Max are exact.
//
// The zero value is empty and ready; Record is safe for concurrent use and
// lock-free. Read quantiles once recording has stopped.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

const (
	histBuckets = 2200
	histGrowth  = 1.01
)

var logGrowth = math.Log(histGrowth)

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	i := 1 + int(math.Log(us)/logGrowth)
	return min(i, histBuckets-1)
}

// Record adds one latency (negative values count as 0).
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(d)].Add(1)
	h.n.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// Count returns the number of recorded latencies.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest recorded latency.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the mean latency (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the q-quantile (0 < q ≤ 1) as the geometric middle of
// its bucket, never above Max; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen < rank {
			continue
		}
		if i == 0 {
			return min(time.Duration(500), h.Max())
		}
		mid := math.Pow(histGrowth, float64(i)-0.5) * float64(time.Microsecond)
		return min(time.Duration(mid), h.Max())
	}
	return h.Max()
}

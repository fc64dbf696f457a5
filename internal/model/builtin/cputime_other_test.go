//go:build !linux

package builtin

// threadCPU is unavailable off Linux; benchmarks then report no CPU metric.
func threadCPU() int64 { return 0 }

//go:build !linux

package model_test

// threadCPU is unavailable off Linux; benchmarks then report no CPU metric.
func threadCPU() int64 { return 0 }

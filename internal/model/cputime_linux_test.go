package model_test

import "syscall"

// threadCPU returns the CPU time the calling OS thread has used, in
// nanoseconds (0 when unavailable). Benchmarks lock their goroutine to its
// thread and report CPU ns/op beside wall ns/op, because on a shared,
// oversubscribed machine wall time mostly measures the wait for a core.
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// Package durability holds the real-process tests of issue 14 (what a 200
// promises): the rendezvous binary is built once, started on a free loopback
// port with a configuration file, driven with load, killed with SIGKILL or
// left without its PostgreSQL, restarted on the same files, and the request
// ids answered 200 are compared with what the store holds. It is its own
// package so that the fast packages' tests do not wait for it; under
// `go test -short` the slow tests skip. bench/durability.sh and
// bench/outage.sh run longer versions and write the figures to BENCHMARKS.md.
package durability

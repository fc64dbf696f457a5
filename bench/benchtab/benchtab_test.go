package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseWrk_ReadsThroughputLatencyAndErrors(t *testing.T) {
	tests := []struct {
		file        string
		want        WrkResult
		wantSockets int64
	}{
		{"testdata/wrk-bare.txt", WrkResult{Requests: 38038, Duration: 5470 * time.Millisecond, RPS: 6957.97,
			P50: 4240 * time.Microsecond, P75: 82220 * time.Microsecond, P90: 325420 * time.Microsecond, P99: 569400 * time.Microsecond, Connections: 64}, 0},
		{"testdata/wrk-peer.txt", WrkResult{Requests: 561, Duration: 5 * time.Second, RPS: 112.14,
			P50: 276670 * time.Microsecond, P75: 375620 * time.Microsecond, P90: 583840 * time.Microsecond, P99: 1770 * time.Millisecond, SocketErrs: 51, Connections: 64}, 51},
		{"testdata/wrk-errors.txt", WrkResult{Requests: 847200, Duration: 20 * time.Second, RPS: 42360,
			P50: 850 * time.Microsecond, P75: 1400 * time.Microsecond, P90: 3100 * time.Microsecond, P99: 10250 * time.Microsecond, Non2xx: 12, SocketErrs: 3, Connections: 64}, 3},
	}
	for _, tt := range tests {
		f, err := os.Open(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseWrk(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.file, got, tt.want)
		}
	}
}

func TestParseWrk_RejectsOutputWithoutLatencyDistribution(t *testing.T) {
	out := "Running 1s test @ http://x\n  10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n"
	if _, err := ParseWrk(strings.NewReader(out)); err == nil || !strings.Contains(err.Error(), "--latency") {
		t.Errorf("error = %v, want one asking for --latency", err)
	}
	if _, err := parseWrkDuration("12parsecs"); err == nil {
		t.Error("parseWrkDuration accepted a bad unit")
	}
}

func TestParseStat_CountsFieldsAfterTheLastParenthesis(t *testing.T) {
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 350 25 0 0 20 0 12 0 100 0 0"
	comm, ticks, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if comm != "my (odd) name" || ticks != 375 {
		t.Errorf("parseStat = %q, %d; want \"my (odd) name\", 375", comm, ticks)
	}
	if _, _, err := parseStat("1 (x) S 1 2"); err == nil {
		t.Error("parseStat accepted a short line")
	}
}

func writeProc(t *testing.T, dir string, pid int, comm string, utime, stime int, status string) {
	t.Helper()
	p := filepath.Join(dir, itoa(pid))
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := itoa(pid) + " (" + comm + ") S 1 1 1 0 -1 0 0 0 0 0 " + itoa(utime) + " " + itoa(stime) + " 0 0 20 0 1 0 1 0 0\n"
	if err := os.WriteFile(filepath.Join(p, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if status != "" {
		if err := os.WriteFile(filepath.Join(p, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCPUSeconds_SumsPidsAndProcessesByCommandName(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, 10, "rendezvous", 300, 50, "")
	writeProc(t, dir, 20, "postgres", 100, 20, "")
	writeProc(t, dir, 21, "postgres", 5, 5, "")
	writeProc(t, dir, 30, "bash", 999, 999, "")
	got, err := cpuSeconds(dir, []int{10, 99 /* gone */}, []string{"postgres"})
	if err != nil {
		t.Fatal(err)
	}
	if got != 4.8 { // (350 + 120 + 10) ticks / 100
		t.Errorf("cpuSeconds = %v, want 4.8", got)
	}
}

func TestMemoryMB_ReadsRSSAndPeak(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, 7, "rendezvous", 0, 0, "Name:\trendezvous\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n")
	rss, hwm, err := memoryMB(dir, 7)
	if err != nil || rss != 40 || hwm != 50 {
		t.Errorf("memoryMB = %v, %v, %v; want 40, 50, nil", rss, hwm, err)
	}
}

func TestRender_TableMatchesGolden(t *testing.T) {
	rows, err := ReadResults("testdata/results.tsv")
	if err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMeta("testdata/meta.env")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Render(&b, rows, meta); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/section.golden.md"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("rendered section differs from %s (go test -update to accept):\n%s", golden, b.String())
	}
	for _, s := range []string{"| 3 | gateway, 3 models, SQLite | 42360 | 850 µs | 10.25 ms | 0.037 | — | 609 % | 377.7× |",
		"| 2 | gateway, production model only, no recording | — |", "**42.5 MB**"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("section lacks %q", s)
		}
	}
}

func TestReplaceSection_ReplacesOnlyBetweenMarkers(t *testing.T) {
	sec := BeginMarker + "\nnew table\n" + EndMarker + "\n"
	doc := "# Benchmarks\n\nintro\n\n" + BeginMarker + "\nold table\n" + EndMarker + "\n\n## Notes\nkept\n"
	got := ReplaceSection(doc, sec)
	want := "# Benchmarks\n\nintro\n\n" + sec + "\n## Notes\nkept\n"
	if got != want {
		t.Errorf("ReplaceSection =\n%q\nwant\n%q", got, want)
	}
	if again := ReplaceSection(got, sec); again != got {
		t.Errorf("ReplaceSection is not idempotent:\n%q", again)
	}
	if got := ReplaceSection("# Benchmarks\n", sec); got != "# Benchmarks\n\n"+sec {
		t.Errorf("without markers the section is appended; got %q", got)
	}
}

func TestRun_ReportWritesTheSectionIntoTheDocument(t *testing.T) {
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := os.WriteFile(out, []byte("# Benchmarks\n\nhand-written text stays\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	if err := run([]string{"report", "--results", "testdata/results.tsv", "--meta", "testdata/meta.env", "--out", out}, &stdout); err != nil {
		t.Fatal(err)
	}
	doc, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(doc), "# Benchmarks\n\nhand-written text stays\n\n"+BeginMarker) || !strings.Contains(string(doc), "377.7×") {
		t.Errorf("document after report:\n%s", doc)
	}
}

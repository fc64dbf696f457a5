// Command testsum summarises `go test -json` for scripts/test.sh: it prints
// one line per package as `go test` does (and the output of every failed
// test), and keeps running totals in a state file so that the last call can
// print the totals of several `go test` runs: passed, failed, skipped, and
// why each test was skipped.
//
//	go test -json ./... | testsum -add STATE      # exit 1 when a test or a build failed
//	testsum -report STATE                          # totals; exit 1 when anything failed
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string
}

// totals is what the state file holds, summed over runs.
type totals struct {
	Passed, Failed, Skipped int
	Skips                   []string // "pkg TestName: reason"
	Failures                []string // "pkg TestName" or "pkg [build failed]"
}

func main() {
	add := flag.String("add", "", "read go test -json on stdin, print progress, add the counts to this state file")
	report := flag.String("report", "", "print the totals kept in this state file")
	flag.Parse()
	switch {
	case *add != "":
		var t totals
		if err := load(*add, &t); err != nil {
			fatal(err)
		}
		if err := summarise(os.Stdin, os.Stdout, &t); err != nil {
			fatal(err)
		}
		if err := save(*add, &t); err != nil {
			fatal(err)
		}
		if len(t.Failures) > 0 {
			os.Exit(1)
		}
	case *report != "":
		var t totals
		if err := load(*report, &t); err != nil {
			fatal(err)
		}
		print(os.Stdout, &t)
		if len(t.Failures) > 0 {
			os.Exit(1)
		}
	default:
		fatal(fmt.Errorf("want -add STATE or -report STATE"))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "testsum:", err)
	os.Exit(2)
}

func load(path string, t *totals) error {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		if os.IsNotExist(err) || len(data) == 0 {
			return nil
		}
		return err
	}
	return json.Unmarshal(data, t)
}

func save(path string, t *totals) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// summarise reads events from r, writes package lines and failed tests'
// output to w, and adds the counts to t. Lines that are not JSON (a build
// error printed by an older toolchain) are passed through.
func summarise(r io.Reader, w io.Writer, t *totals) error {
	output := map[string][]string{} // package + " " + test → its output lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			output[key] = append(output[key], e.Output)
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			t.Failures = append(t.Failures, e.ImportPath+" [build failed]")
		case "pass", "fail", "skip":
			if e.Test == "" {
				packageLine(w, e, output[key])
			} else {
				count(w, t, e, output[key])
			}
			delete(output, key)
		}
	}
	return sc.Err()
}

func packageLine(w io.Writer, e event, out []string) {
	d := time.Duration(e.Elapsed * float64(time.Second)).Round(time.Millisecond)
	switch e.Action {
	case "pass":
		fmt.Fprintf(w, "ok  \t%s\t%v\n", e.Package, d)
	case "skip":
		fmt.Fprintf(w, "?   \t%s\t[no test files]\n", e.Package)
	case "fail":
		// Package-level output (a panic, TestMain's messages) then the
		// verdict, once.
		for _, o := range out {
			if o == "FAIL\n" || strings.HasPrefix(o, "FAIL\t"+e.Package) {
				continue
			}
			fmt.Fprint(w, o)
		}
		fmt.Fprintf(w, "FAIL\t%s\t%v\n", e.Package, d)
	}
}

func count(w io.Writer, t *totals, e event, out []string) {
	name := e.Package + " " + e.Test
	switch e.Action {
	case "pass":
		t.Passed++
	case "fail":
		t.Failed++
		t.Failures = append(t.Failures, name)
		for _, o := range out {
			fmt.Fprint(w, o)
		}
	case "skip":
		t.Skipped++
		t.Skips = append(t.Skips, name+": "+skipReason(out))
	}
}

// skipReason is what the test logged, without the === / --- lines and the
// file:line prefix of t.Skip.
func skipReason(out []string) string {
	var parts []string
	for _, o := range out {
		s := strings.TrimSpace(o)
		if s == "" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- ") {
			continue
		}
		if i := strings.Index(s, ": "); i > 0 && strings.Contains(s[:i], ".go:") {
			s = s[i+2:]
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " / ")
}

func print(w io.Writer, t *totals) {
	fmt.Fprintf(w, "\n=== test totals (tests and subtests)\n")
	if len(t.Skips) > 0 {
		sort.Strings(t.Skips)
		fmt.Fprintf(w, "skipped:\n")
		for _, s := range t.Skips {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	if len(t.Failures) > 0 {
		fmt.Fprintf(w, "failed:\n")
		for _, f := range t.Failures {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", t.Passed, t.Failed, t.Skipped)
}

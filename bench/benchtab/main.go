// Command benchtab is the Go half of bench/run.sh: it reads CPU time and
// memory of processes from /proc, parses wrk's output and writes the results
// table into BENCHMARKS.md between the harness's markers.
//
//	benchtab cpu [--comm NAME]... [PID]...   CPU seconds (utime+stime) of the processes
//	benchtab mem PID                          "RSS_MB PEAK_MB" of a process
//	benchtab report --results F --meta F --out BENCHMARKS.md
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "benchtab: %v\n", err)
		os.Exit(1)
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: benchtab cpu|mem|report …")
	}
	fs := flag.NewFlagSet("benchtab "+args[0], flag.ContinueOnError)
	procDir := fs.String("proc", "/proc", "proc file system")
	switch args[0] {
	case "cpu":
		var comms multi
		fs.Var(&comms, "comm", "also count every process with this command name (repeatable)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		pids, err := atois(fs.Args())
		if err != nil {
			return err
		}
		s, err := cpuSeconds(*procDir, pids, comms)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%.2f\n", s)
	case "mem":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		pids, err := atois(fs.Args())
		if err != nil || len(pids) != 1 {
			return fmt.Errorf("mem: want one pid, got %q", fs.Args())
		}
		rss, hwm, err := memoryMB(*procDir, pids[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%.1f %.1f\n", rss, hwm)
	case "report":
		results := fs.String("results", "", "results.tsv written by run.sh")
		meta := fs.String("meta", "", "meta.env written by run.sh")
		out := fs.String("out", "BENCHMARKS.md", "document whose section to replace")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		rows, err := ReadResults(*results)
		if err != nil {
			return err
		}
		m, err := ReadMeta(*meta)
		if err != nil {
			return err
		}
		var sec strings.Builder
		if err := Render(&sec, rows, m); err != nil {
			return err
		}
		doc, err := os.ReadFile(*out)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if err := os.WriteFile(*out, []byte(ReplaceSection(string(doc), sec.String())), 0o644); err != nil {
			return err
		}
		fmt.Fprint(stdout, sec.String())
	default:
		return fmt.Errorf("unknown subcommand %q (cpu, mem, report)", args[0])
	}
	return nil
}

func atois(ss []string) ([]int, error) {
	out := make([]int, 0, len(ss))
	for _, s := range ss {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("bad pid %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for everything it exports to user space.
const userHZ = 100

// parseStat returns the command name and utime+stime (in ticks) from one
// /proc/<pid>/stat line. The command name is in parentheses and may itself
// contain spaces and parentheses, so fields are counted from the last ')'.
func parseStat(line string) (comm string, ticks int64, err error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("bad stat line %q", line)
	}
	comm = line[open+1 : end]
	// After ") ": state(3) ppid(4) … utime(14) stime(15): indexes 11 and 12.
	f := strings.Fields(line[end+1:])
	if len(f) < 13 {
		return "", 0, fmt.Errorf("bad stat line %q: %d fields after the name", line, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, fmt.Errorf("bad utime/stime in %q", line)
	}
	return comm, ut + st, nil
}

// cpuSeconds sums utime+stime of the given pids (every thread included) and
// of every process whose command name is one of comms, read under procDir.
// A pid that has gone counts 0.
func cpuSeconds(procDir string, pids []int, comms []string) (float64, error) {
	var ticks int64
	seen := map[int]bool{}
	add := func(pid int) error {
		if seen[pid] {
			return nil
		}
		seen[pid] = true
		b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "stat"))
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		_, t, err := parseStat(string(bytes.TrimSpace(b)))
		ticks += t
		return err
	}
	for _, p := range pids {
		if err := add(p); err != nil {
			return 0, err
		}
	}
	if len(comms) > 0 {
		entries, err := os.ReadDir(procDir)
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || seen[pid] {
				continue
			}
			b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
			if err != nil {
				continue // exited meanwhile
			}
			comm, t, err := parseStat(string(bytes.TrimSpace(b)))
			if err != nil {
				continue
			}
			for _, c := range comms {
				if comm == c {
					seen[pid] = true
					ticks += t
					break
				}
			}
		}
	}
	return float64(ticks) / userHZ, nil
}

// memoryMB returns VmRSS and VmHWM (peak RSS) of pid in MiB.
func memoryMB(procDir string, pid int) (rss, hwm float64, err error) {
	f, err := os.Open(filepath.Join(procDir, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, 0, fmt.Errorf("%s: unexpected %q", k, v)
		}
		kb, err := strconv.ParseFloat(fs[0], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("pid %d: no VmRSS in status", pid)
	}
	return rss, hwm, sc.Err()
}

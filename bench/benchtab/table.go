package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Section markers in BENCHMARKS.md: the harness owns what is between them
// and replaces it on every run.
const (
	BeginMarker = "<!-- bench:begin (written by bench/run.sh; do not edit by hand) -->"
	EndMarker   = "<!-- bench:end -->"
)

// Row is one measured setup.
type Row struct {
	ID   int
	Name string
	// Wrk is nil when the setup was skipped (Note says why).
	Wrk *WrkResult
	// ServerCPU and StoreCPU are CPU seconds used during the wrk run by the
	// server process and by separate store processes (PostgreSQL,
	// FerretDB); StoreCPU < 0 means none (in-process or no store).
	ServerCPU, StoreCPU float64
	Note                string
}

// ReadResults reads results.tsv: one line per setup,
// "id<TAB>name<TAB>wrk-output-file|-<TAB>server-cpu-s<TAB>store-cpu-s|-<TAB>note".
// Relative wrk file names resolve against the results file's directory.
func ReadResults(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []Row
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) != 6 {
			return nil, fmt.Errorf("%s:%d: want 6 tab-separated fields, got %d", path, n, len(p))
		}
		id, err := strconv.Atoi(p[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad id %q", path, n, p[0])
		}
		r := Row{ID: id, Name: p[1], StoreCPU: -1, Note: p[5]}
		if p[2] != "-" {
			wf := p[2]
			if !filepath.IsAbs(wf) {
				wf = filepath.Join(filepath.Dir(path), wf)
			}
			wout, err := os.Open(wf)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			w, err := ParseWrk(wout)
			wout.Close()
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", path, n, wf, err)
			}
			r.Wrk = &w
			if r.ServerCPU, err = strconv.ParseFloat(p[3], 64); err != nil {
				return nil, fmt.Errorf("%s:%d: bad server CPU %q", path, n, p[3])
			}
			if p[4] != "-" {
				if r.StoreCPU, err = strconv.ParseFloat(p[4], 64); err != nil {
					return nil, fmt.Errorf("%s:%d: bad store CPU %q", path, n, p[4])
				}
			}
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

// ReadMeta reads key=value lines (blank lines and # comments skipped).
func ReadMeta(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key=value, got %q", path, n+1, line)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

func fmtLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
}

// perK is CPU seconds per 1000 requests.
func perK(cpu float64, requests int64) string {
	if requests == 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f", cpu/float64(requests)*1000)
}

func find(rows []Row, id int) *Row {
	for i := range rows {
		if rows[i].ID == id && rows[i].Wrk != nil {
			return &rows[i]
		}
	}
	return nil
}

// Render writes the harness's section (markers included) for rows and meta.
func Render(w io.Writer, rows []Row, meta map[string]string) error {
	var b strings.Builder
	get := func(k string) string {
		if v, ok := meta[k]; ok && v != "" {
			return v
		}
		return "?"
	}
	fmt.Fprintln(&b, BeginMarker)
	fmt.Fprintf(&b, "\n### Run of %s\n\n", get("date"))
	fmt.Fprintf(&b, "Machine: %s, %s, %s CPUs, %s memory; load average before the run: %s.  \n",
		get("machine"), get("cpu"), get("cpus"), get("memory"), get("load_before"))
	fmt.Fprintf(&b, "Software: %s; %s; %s.  \n", get("go"), get("wrk"), get("python"))
	fmt.Fprintf(&b, "Load: `wrk -t%s -c%s -d%s --latency -s bench/post.lua` (keep-alive, the same POST body for every row) after a %s warm-up; the original route `%s` on every server.\n\n",
		get("threads"), get("connections"), get("duration"), get("warmup"), get("path"))
	base, peer := find(rows, 1), find(rows, 5)
	fmt.Fprintln(&b, "| # | setup | requests/s | p50 | p99 | CPU s per 1k req (server) | CPU s per 1k req (store processes) | req/s vs (1) | req/s vs (5) | errors |")
	fmt.Fprintln(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if r.Wrk == nil {
			fmt.Fprintf(&b, "| %d | %s | — | — | — | — | — | — | — | %s |\n", r.ID, r.Name, r.Note)
			continue
		}
		wr := r.Wrk
		store := "—"
		if r.StoreCPU >= 0 {
			store = perK(r.StoreCPU, wr.Requests)
		}
		vs1, vs5 := "—", "—"
		if base != nil && base.Wrk.RPS > 0 {
			vs1 = fmt.Sprintf("%.0f %%", wr.RPS/base.Wrk.RPS*100)
		}
		if peer != nil && peer.Wrk.RPS > 0 {
			vs5 = fmt.Sprintf("%.1f×", wr.RPS/peer.Wrk.RPS)
		}
		errs := fmt.Sprintf("%d", wr.Non2xx+wr.SocketErrs)
		if wr.Non2xx+wr.SocketErrs > 0 {
			errs = fmt.Sprintf("%d non-2xx, %d socket", wr.Non2xx, wr.SocketErrs)
		}
		if r.Note != "" {
			errs += "; " + r.Note
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
			r.ID, r.Name, wr.RPS, fmtLatency(wr.P50), fmtLatency(wr.P99), perK(r.ServerCPU, wr.Requests), store, vs1, vs5, errs)
	}
	fmt.Fprintln(&b)
	writeTargets(&b, rows)
	writeMemory(&b, meta)
	if notes := meta["notes"]; notes != "" {
		fmt.Fprintf(&b, "\n%s\n", notes)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, EndMarker)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeTargets(b *strings.Builder, rows []Row) {
	one, two, three, five := find(rows, 1), find(rows, 2), find(rows, 3), find(rows, 5)
	fmt.Fprintln(b, "Targets (from issues 4 and 9):")
	fmt.Fprintln(b)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	if one != nil && three != nil {
		share := three.Wrk.RPS / one.Wrk.RPS * 100
		fmt.Fprintf(b, "- full gateway (3) ≥ 50 %% of the bare handler (1) in requests/s: %.0f %% — %s\n", share, verdict(share >= 50))
	} else {
		fmt.Fprintln(b, "- full gateway (3) ≥ 50 % of the bare handler (1): not measured")
	}
	if five != nil && three != nil {
		x := three.Wrk.RPS / five.Wrk.RPS
		fmt.Fprintf(b, "- full gateway (3) ≥ 30× the original design (5): %.1f× — %s\n", x, verdict(x >= 30))
	} else {
		fmt.Fprintln(b, "- full gateway (3) ≥ 30× the original design (5): not measured")
	}
	if two != nil && three != nil {
		d := three.Wrk.P99 - two.Wrk.P99
		fmt.Fprintf(b, "- recording and two more models add ≤ 1 ms p99 ((3) − (2)): %s — %s\n", signedLatency(d), verdict(d <= time.Millisecond))
	} else {
		fmt.Fprintln(b, "- recording and two more models add ≤ 1 ms p99 ((3) − (2)): not measured")
	}
}

func signedLatency(d time.Duration) string {
	if d < 0 {
		return "−" + fmtLatency(-d)
	}
	return "+" + fmtLatency(d)
}

func writeMemory(b *strings.Builder, meta map[string]string) {
	writeMemoryRun(b, meta, "mem", true)
	if _, ok := meta["memlow_target_rate"]; ok || meta["memlow_note"] != "" {
		writeMemoryRun(b, meta, "memlow", false)
	}
}

// writeMemoryRun writes one memory measurement; the meta keys start with
// prefix ("mem_rss_mb", …). target says it is the one the ≤ 100 MB target
// is judged on.
func writeMemoryRun(b *strings.Builder, meta map[string]string, prefix string, target bool) {
	get := func(k string) string { return meta[prefix+"_"+k] }
	rss := get("rss_mb")
	if rss == "" {
		fmt.Fprintf(b, "- memory (RSS of the full gateway after 60 s of open-loop traffic): not measured\n")
		if n := get("note"); n != "" {
			fmt.Fprintf(b, "  (%s)\n", n)
		}
		return
	}
	backlog := ""
	if n := get("backlog"); n != "" && n != "0" {
		backlog = fmt.Sprintf(", %s due but never sent because the gateway fell behind", n)
	}
	fmt.Fprintf(b, "- memory: RSS of the full gateway (3) after %s of open-loop traffic offered at %s requests/s by `rendezvous simulate` (achieved %s/s: %s sent, %s ok%s; p99 from the intended send time %s): **%s MB** (peak %s MB)",
		get("duration"), get("target_rate"), get("rate"), get("sent"), get("ok"), backlog, get("p99"), rss, get("hwm_mb"))
	if target {
		v, _ := strconv.ParseFloat(rss, 64)
		verdict := "met"
		if v > 100 {
			verdict = "**not met**"
		}
		fmt.Fprintf(b, ", target ≤ 100 MB — %s", verdict)
	}
	fmt.Fprintln(b)
	if n := get("note"); n != "" {
		fmt.Fprintf(b, "  (%s)\n", n)
	}
}

// ReplaceSection returns doc with the text between the markers (markers
// included) replaced by section; without markers, section is appended.
func ReplaceSection(doc, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	i := strings.Index(doc, BeginMarker)
	j := strings.Index(doc, EndMarker)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		return doc + section
	}
	rest := doc[j+len(EndMarker):]
	rest = strings.TrimPrefix(rest, "\n")
	return doc[:i] + section + rest
}

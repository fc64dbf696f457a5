package analysis

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// WriteText writes r as an aligned table, one row per column, then a summary
// line. Non-finite statistics print as "inf" or "-"; distances print "-" as
// p-value.
func (r DriftReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "column\ttype\tmethod\tstatistic\tp-value\tthreshold\tdrift\tpsi\tmissing ref/cur\n")
	for _, c := range r.Columns {
		p := "-"
		if c.PValue != nil {
			p = formatP(*c.PValue)
		}
		drift := "no"
		switch {
		case c.Verdict == DriftVerdictInsufficient:
			drift = DriftVerdictInsufficient
		case c.Drifted:
			drift = "DRIFT"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n",
			c.Column, c.Type, c.Method, formatStat(float64(c.Statistic)), p,
			strconv.FormatFloat(c.Threshold, 'g', -1, 64), drift, formatStat(float64(c.PSI)),
			c.ReferenceMissing, c.CurrentMissing)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "no"
	if r.DatasetDrift {
		verdict = "YES"
	}
	drifted, tested := r.Counts()
	insufficient := ""
	if n := len(r.Columns) - tested; n > 0 {
		insufficient = fmt.Sprintf(" (%d more with fewer than %d current values: insufficient_data)", n, r.MinSample)
	}
	_, err := fmt.Fprintf(w, "\nreference rows %d, current rows %d; %d of %d columns drifted%s (share %.3f); dataset drift: %s\n",
		r.ReferenceRows, r.CurrentRows, drifted, tested, insufficient, r.DriftShare, verdict)
	return err
}

func formatStat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func formatP(p float64) string {
	if p != 0 && p < 1e-4 {
		return strconv.FormatFloat(p, 'e', 2, 64)
	}
	return strconv.FormatFloat(p, 'f', 4, 64)
}

// Counts returns the drifted columns and the columns with a verdict (all
// but insufficient_data), counted from the columns themselves.
func (r DriftReport) Counts() (drifted, tested int) {
	for _, c := range r.Columns {
		if c.Verdict == DriftVerdictInsufficient {
			continue
		}
		tested++
		if c.Drifted {
			drifted++
		}
	}
	return drifted, tested
}

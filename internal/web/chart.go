package web

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Okabe–Ito palette: distinguishable with every common form of colour
// blindness. Every series also differs by something other than colour
// (fill versus outline, dash pattern, marker shape, position).
const (
	colReference = "#56B4E9" // sky blue: training reference, filled
	colLive      = "#D55E00" // vermillion: live traffic, outlined / hatched
	colAxis      = "#444444"
	colGrid      = "#dddddd"
	colThreshold = "#000000"
)

// seriesColors colour models and stacked series in order.
var seriesColors = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"}

// seriesDash gives each line series its own dash pattern.
var seriesDash = []string{"", "7 4", "2 3", "9 3 2 3", "4 4", "1 2"}

// seriesMarker gives each line series its own marker shape.
var seriesMarker = []string{"circle", "square", "triangle", "diamond"}

// Chart geometry, in SVG user units. The viewBox is small enough that the
// text stays readable when a chart is scaled down to a phone's width.
const (
	chartW     = 400.0 // distribution cards
	wideW      = 560.0 // over-time charts, two to a row
	wideLeft   = 66.0  // their left margin: room for larger text on phones
	chartH     = 230.0
	padLeft    = 52.0
	padRight   = 12.0
	padTop     = 12.0
	padBottom  = 46.0
	plotW      = chartW - padLeft - padRight
	plotH      = chartH - padTop - padBottom
	maxBins    = 20
	maxCatBars = 12
)

// chart is a rendered-ready SVG chart: every coordinate is computed here and
// every string is emitted by html/template, which escapes it (category names
// are user data).
type chart struct {
	ID    string
	Title string
	// HideCaption keeps the caption for screen readers only (the card
	// around the chart already says what it is).
	HideCaption bool
	// Desc summarises the chart for screen readers.
	Desc   string
	XLabel string
	YLabel string
	XTicks []tick
	YTicks []tick
	Rects  []bar
	Lines  []polyline
	Marks  []mark
	Rules  []rule
	Legend []legendItem
	// Points counts the data values drawn (the browser test checks it).
	Points int
	// Width is the viewBox width (chartW when 0).
	Width float64
	// Empty, when set, replaces the plot with this sentence.
	Empty string
	// Note is a line of text under the chart (missing values, bucket rule).
	Note string
	// Events are the deployment changes drawn as vertical lines (time
	// charts).
	Events []eventMark
}

// Geometry of the frame, for the template.
func (c chart) W() float64 {
	if c.Width > 0 {
		return c.Width
	}
	return chartW
}
func (chart) H() float64 { return chartH }
func (c chart) PL() float64 {
	if c.Width > 0 {
		return wideLeft
	}
	return padLeft
}
func (chart) PT() float64      { return padTop }
func (c chart) PW() float64    { return c.W() - c.PL() - padRight }
func (chart) PH() float64      { return plotH }
func (chart) PB() float64      { return padTop + plotH }
func (c chart) PR() float64    { return c.W() - padRight }
func (chart) XLabelY() float64 { return chartH - 6 }
func (c chart) XMid() float64  { return c.PL() + c.PW()/2 }
func (chart) YMid() float64    { return padTop + plotH/2 }

type tick struct {
	Pos   float64
	Label string
}

type bar struct {
	X, Y, W, H float64
	Fill       string
	Stroke     string
	// Pattern names a <pattern> fill (hatching) instead of Fill.
	Hatch bool
	// Tip is the hover text.
	Tip string
}

type polyline struct {
	Points string
	Stroke string
	Dash   string
	Name   string
}

type mark struct {
	X, Y   float64
	Shape  string
	Colour string
	Tip    string
}

type rule struct {
	Y     float64
	Label string
}

type legendItem struct {
	Label  string
	Colour string
	// Kind is "fill", "hatch", "line" or "step".
	Kind   string
	Dash   string
	Marker string
}

func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// fmtTick formats an axis value compactly.
func fmtTick(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// yAxis fills the Y ticks of c for [0, top] and returns the scale.
func yAxis(c *chart, top float64, format func(float64) string) func(float64) float64 {
	ticks := niceTicks(0, top, 4)
	if last := ticks[len(ticks)-1]; last < top*(1-1e-9) {
		// The data reach past the last round tick: add one more.
		step := top
		if len(ticks) > 1 {
			step = ticks[1] - ticks[0]
		}
		ticks = append(ticks, last+step)
	}
	top = ticks[len(ticks)-1]
	scale := func(v float64) float64 { return padTop + plotH - v/top*plotH }
	for _, t := range ticks {
		c.YTicks = append(c.YTicks, tick{Pos: scale(t), Label: format(t)})
	}
	return scale
}

// pct prints a share as a percentage with at most one decimal.
func pct(v float64) string {
	x := math.Round(v*1000) / 10
	if x == 0 {
		x = 0 // no "-0"
	}
	return strconv.FormatFloat(x, 'f', -1, 64) + "%"
}

// histogramChart overlays the live distribution of a numeric column (a
// vermillion outline) on its training reference (sky-blue bars), both as
// shares of their non-missing rows over the same bins. Integer-valued
// columns with a small range get one bin per integer. lo/hi fix the range
// when hi > lo (probabilities: 0–1).
func histogramChart(id, title, xLabel string, refS, curS sample, lo, hi float64) chart {
	ref, cur := refS.v, curS.v
	c := chart{ID: id, Title: title, XLabel: xLabel, YLabel: "share of rows",
		Legend: []legendItem{{Label: "training reference", Colour: colReference, Kind: "fill"}, {Label: "live", Colour: colLive, Kind: "step"}}}
	if refS.n() == 0 || curS.n() == 0 {
		c.Empty = "No values to compare yet."
		if refS.n() == 0 {
			c.Empty = "No reference values."
		}
		return c
	}
	if !(hi > lo) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, s := range [][]float64{ref, cur} {
			for _, v := range s {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	bins := maxBins
	integers := allIntegers(ref) && allIntegers(cur)
	if integers && hi-lo+1 <= maxBins*2 {
		// One bin per integer, centred on it.
		bins = int(hi-lo) + 1
		lo, hi = lo-0.5, hi+0.5
	} else if hi == lo {
		lo, hi = lo-0.5, hi+0.5
		bins = 1
	}
	width := (hi - lo) / float64(bins)
	share := func(s sample) []float64 {
		h := make([]float64, bins)
		for k, v := range s.v {
			i := int((v - lo) / width)
			i = min(max(i, 0), bins-1)
			h[i] += float64(s.weight(k))
		}
		for i := range h {
			h[i] /= float64(s.n())
		}
		return h
	}
	rh, ch := share(refS), share(curS)
	top := max(slices.Max(rh), slices.Max(ch))
	y := yAxis(&c, top, pct)
	x := func(v float64) float64 { return padLeft + (v-lo)/(hi-lo)*plotW }
	for i := range bins {
		x0, x1 := lo+float64(i)*width, lo+float64(i+1)*width
		c.Rects = append(c.Rects, bar{X: x(x0) + 0.5, Y: y(rh[i]), W: max(x(x1)-x(x0)-1, 0.5), H: y(0) - y(rh[i]), Fill: colReference,
			Tip: fmt.Sprintf("reference %s–%s: %s", fmtTick(x0), fmtTick(x1), pct1(rh[i]))})
	}
	// The live histogram as a step outline over the same bins.
	var pts []string
	pts = append(pts, f2(x(lo))+","+f2(y(0)))
	for i := range bins {
		x0, x1 := lo+float64(i)*width, lo+float64(i+1)*width
		pts = append(pts, f2(x(x0))+","+f2(y(ch[i])), f2(x(x1))+","+f2(y(ch[i])))
		c.Marks = append(c.Marks, mark{X: x((x0 + x1) / 2), Y: y(ch[i]), Shape: "none", Colour: colLive,
			Tip: fmt.Sprintf("live %s–%s: %s", fmtTick(x0), fmtTick(x1), pct1(ch[i]))})
	}
	pts = append(pts, f2(x(hi))+","+f2(y(0)))
	c.Lines = append(c.Lines, polyline{Points: strings.Join(pts, " "), Stroke: colLive, Name: "live"})
	c.Points = int(refS.n() + curS.n())
	for _, t := range niceTicks(lo, hi, 5) {
		if t >= lo && t <= hi {
			c.XTicks = append(c.XTicks, tick{Pos: x(t), Label: fmtTick(t)})
		}
	}
	c.Desc = fmt.Sprintf("Histogram of %s: %d reference values and %d live values over %d bins from %s to %s.",
		xLabel, refS.n(), curS.n(), bins, fmtTick(lo), fmtTick(hi))
	return c
}

// sample is a chart's values, each standing for w[i] rows (w nil: one
// each), as a histogram column holds them.
type sample struct {
	v []float64
	w []int64
}

// textSample is sample for categories.
type textSample struct {
	v []string
	w []int64
}

func (s sample) weight(i int) int64     { return weightOf(s.w, i) }
func (s sample) n() int64               { return total(s.w, len(s.v)) }
func (s textSample) weight(i int) int64 { return weightOf(s.w, i) }
func (s textSample) n() int64           { return total(s.w, len(s.v)) }

func weightOf(w []int64, i int) int64 {
	if w == nil {
		return 1
	}
	return w[i]
}

func total(w []int64, n int) int64 {
	if w == nil {
		return int64(n)
	}
	var t int64
	for _, x := range w {
		t += x
	}
	return t
}

func allIntegers(v []float64) bool {
	for _, x := range v {
		if x != math.Trunc(x) {
			return false
		}
	}
	return true
}

func pct1(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

// categoryChart draws side-by-side bars per category: the reference share
// filled sky blue, the live share hatched vermillion. At most maxCatBars
// categories are drawn (the most frequent); the rest are summed as
// "(other)".
func categoryChart(id, title, xLabel string, refS, curS textSample) chart {
	nRef, nCur := float64(refS.n()), float64(curS.n())
	c := chart{ID: id, Title: title, XLabel: xLabel, YLabel: "share of rows",
		Legend: []legendItem{{Label: "training reference", Colour: colReference, Kind: "fill"}, {Label: "live", Colour: colLive, Kind: "hatch"}}}
	if nRef == 0 || nCur == 0 {
		c.Empty = "No values to compare yet."
		if nRef == 0 {
			c.Empty = "No reference values."
		}
		return c
	}
	rc, cc := map[string]float64{}, map[string]float64{}
	for i, v := range refS.v {
		rc[v] += float64(refS.weight(i))
	}
	for i, v := range curS.v {
		cc[v] += float64(curS.weight(i))
	}
	cats := make([]string, 0, len(rc)+len(cc))
	for k := range rc {
		cats = append(cats, k)
	}
	for k := range cc {
		if _, ok := rc[k]; !ok {
			cats = append(cats, k)
		}
	}
	// Most frequent first to choose which to draw, then natural order.
	slices.SortFunc(cats, func(a, b string) int {
		if d := cmp.Compare(rc[b]/nRef+cc[b]/nCur, rc[a]/nRef+cc[a]/nCur); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var other []string
	if len(cats) > maxCatBars {
		other = cats[maxCatBars-1:]
		cats = cats[:maxCatBars-1]
	}
	slices.SortFunc(cats, naturalCompare)
	type pair struct {
		name     string
		ref, cur float64
	}
	var ps []pair
	for _, k := range cats {
		ps = append(ps, pair{catLabel(k), rc[k] / nRef, cc[k] / nCur})
	}
	if len(other) > 0 {
		var r, l float64
		for _, k := range other {
			r += rc[k]
			l += cc[k]
		}
		ps = append(ps, pair{"(other)", r / nRef, l / nCur})
	}
	top := 0.0
	for _, p := range ps {
		top = max(top, p.ref, p.cur)
	}
	y := yAxis(&c, top, pct)
	slot := plotW / float64(len(ps))
	bw := min(slot*0.38, 40)
	for i, p := range ps {
		mid := padLeft + slot*(float64(i)+0.5)
		c.Rects = append(c.Rects,
			bar{X: mid - bw - 1, Y: y(p.ref), W: bw, H: y(0) - y(p.ref), Fill: colReference, Tip: fmt.Sprintf("reference %s: %s", p.name, pct1(p.ref))},
			bar{X: mid + 1, Y: y(p.cur), W: bw, H: y(0) - y(p.cur), Fill: colLive, Stroke: colLive, Hatch: true, Tip: fmt.Sprintf("live %s: %s", p.name, pct1(p.cur))})
		c.XTicks = append(c.XTicks, tick{Pos: mid, Label: shorten(p.name, int(slot/6.5))})
	}
	c.Points = int(refS.n() + curS.n())
	c.Desc = fmt.Sprintf("Bars of %s: share of %d reference and %d live rows in each of %d categories.", xLabel, refS.n(), curS.n(), len(ps))
	return c
}

// catLabel shortens a numeric category (a probability that takes few
// values) to 3 significant digits; text is kept as it is.
func catLabel(s string) string {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'g', 3, 64)
	}
	return s
}

// naturalCompare orders numbers numerically, before text.
func naturalCompare(a, b string) int {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	switch {
	case ea == nil && eb == nil:
		return cmp.Compare(fa, fb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	n = max(n, 3)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// timeAxis maps the bucket sequence onto the plot width.
type timeAxis struct {
	starts []time.Time
	width  time.Duration
}

func (a timeAxis) slot() float64 { return (wideW - wideLeft - padRight) / float64(len(a.starts)) }

func (a timeAxis) mid(i int) float64 { return wideLeft + a.slot()*(float64(i)+0.5) }

// ticks labels at most six buckets, evenly spaced.
func (a timeAxis) ticks() []tick {
	n := len(a.starts)
	step := max(1, (n+5)/6)
	layout := "15:04"
	span := a.starts[n-1].Add(a.width).Sub(a.starts[0])
	switch {
	case a.width < time.Minute:
		layout = "15:04:05"
	case a.width >= 24*time.Hour:
		layout = "Jan 2"
	case span > 24*time.Hour:
		layout = "Jan 2 15h"
	}
	var out []tick
	for i := 0; i < n; i += step {
		out = append(out, tick{Pos: a.mid(i), Label: a.starts[i].UTC().Format(layout)})
	}
	return out
}

// series is one named sequence of per-bucket values (nil: no value).
type series struct {
	Name   string
	Values []*float64
}

// stackedChart stacks per-bucket counts (requests by outcome).
func stackedChart(id, title, yLabel string, ax timeAxis, ss []series) chart {
	c := chart{ID: id, Title: title, XLabel: "time (UTC), bucket " + fmtDuration(ax.width), YLabel: yLabel, Width: wideW}
	if len(ax.starts) == 0 {
		c.Empty = "No requests in this window."
		return c
	}
	tot := make([]float64, len(ax.starts))
	for _, s := range ss {
		for i, v := range s.Values {
			if v != nil {
				tot[i] += *v
			}
		}
	}
	top := slices.Max(tot)
	if top == 0 {
		c.Empty = "No requests in this window."
		return c
	}
	y := yAxis(&c, top, fmtTick)
	bw := ax.slot() * 0.8
	base := make([]float64, len(ax.starts))
	for si, s := range ss {
		col := seriesColors[si%len(seriesColors)]
		c.Legend = append(c.Legend, legendItem{Label: s.Name, Colour: col, Kind: "fill"})
		for i, v := range s.Values {
			if v == nil || *v == 0 {
				continue
			}
			c.Rects = append(c.Rects, bar{X: ax.mid(i) - bw/2, Y: y(base[i] + *v), W: bw, H: y(base[i]) - y(base[i]+*v), Fill: col, Stroke: "#ffffff",
				Tip: fmt.Sprintf("%s %s: %s", ax.starts[i].UTC().Format("Jan 2 15:04"), s.Name, fmtTick(*v))})
			base[i] += *v
			c.Points++
		}
	}
	c.XTicks = ax.ticks()
	c.Desc = fmt.Sprintf("%s in %d buckets of %s; at most %s in one bucket.", title, len(ax.starts), fmtDuration(ax.width), fmtTick(top))
	return c
}

// lineChart draws one line per series over the buckets; a nil value breaks
// the line. yMax > 0 fixes the top of the axis; threshold > 0 draws a
// labelled horizontal rule.
func lineChart(id, title, yLabel string, ax timeAxis, ss []series, yMax float64, format func(float64) string, threshold float64, thresholdLabel string) chart {
	c := chart{ID: id, Title: title, XLabel: "time (UTC), bucket " + fmtDuration(ax.width), YLabel: yLabel, Width: wideW}
	top := yMax
	n := 0
	for _, s := range ss {
		for _, v := range s.Values {
			if v != nil {
				n++
				if yMax <= 0 {
					top = max(top, *v)
				}
			}
		}
	}
	if len(ax.starts) == 0 || n == 0 {
		c.Empty = "No values in this window."
		return c
	}
	if top <= 0 {
		top = 1
	}
	y := yAxis(&c, top, format)
	for si, s := range ss {
		col := seriesColors[si%len(seriesColors)]
		dash := seriesDash[si%len(seriesDash)]
		shape := seriesMarker[si%len(seriesMarker)]
		c.Legend = append(c.Legend, legendItem{Label: s.Name, Colour: col, Kind: "line", Dash: dash, Marker: shape})
		var run []string
		flush := func() {
			if len(run) > 1 {
				c.Lines = append(c.Lines, polyline{Points: strings.Join(run, " "), Stroke: col, Dash: dash, Name: s.Name})
			}
			run = nil
		}
		for i, v := range s.Values {
			if v == nil {
				flush()
				continue
			}
			px, py := ax.mid(i), y(*v)
			run = append(run, f2(px)+","+f2(py))
			c.Marks = append(c.Marks, mark{X: px, Y: py, Shape: shape, Colour: col,
				Tip: fmt.Sprintf("%s %s: %s", ax.starts[i].UTC().Format("Jan 2 15:04"), s.Name, format(*v))})
			c.Points++
		}
		flush()
	}
	if threshold > 0 {
		// The rule's name goes in the legend, not on the plot, where it
		// would sit on the series' last points.
		c.Rules = append(c.Rules, rule{Y: y(threshold), Label: thresholdLabel})
		c.Legend = append(c.Legend, legendItem{Label: thresholdLabel + " (≥ " + format(threshold) + ")", Colour: "#000000", Kind: "line", Dash: "4 3"})
	}
	c.XTicks = ax.ticks()
	c.Desc = fmt.Sprintf("%s: %d series over %d buckets of %s.", title, len(ss), len(ax.starts), fmtDuration(ax.width))
	return c
}

// fmtDuration prints a bucket width the way people say it.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + " d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d >= time.Second && d%time.Second == 0:
		return strconv.Itoa(int(d/time.Second)) + " s"
	}
	return d.String()
}

// Path is the SVG path of the marker, centred on the point.
func (m mark) Path() string {
	x, y := m.X, m.Y
	switch m.Shape {
	case "square":
		return fmt.Sprintf("M%s %sh6v6h-6z", f2(x-3), f2(y-3))
	case "triangle":
		return fmt.Sprintf("M%s %sl4 7h-8z", f2(x), f2(y-4))
	case "diamond":
		return fmt.Sprintf("M%s %sl4 4l-4 4l-4 -4z", f2(x), f2(y-4))
	case "none":
		return ""
	}
	return fmt.Sprintf("M%s %sa3.2 3.2 0 1 0 6.4 0a3.2 3.2 0 1 0 -6.4 0", f2(x-3.2), f2(y))
}

// LegendPath is the marker of a legend swatch (16×10 box).
func (l legendItem) LegendPath() string {
	if l.Marker == "" {
		return ""
	}
	return mark{X: 8, Y: 5, Shape: l.Marker}.Path()
}

package api

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
)

// metrics are the gateway's Prometheus series.
type metrics struct {
	requests     *prometheus.CounterVec   // route, code
	duration     *prometheus.HistogramVec // route
	modelLatency *prometheus.HistogramVec // model, role, outcome
	fallbacks    *prometheus.CounterVec   // served_by
	modelErrors  *prometheus.CounterVec   // model, kind
	models       sync.Map                 // modelKey → prometheus.Observer
}

// latencyBuckets cover in-process models (tens of µs) to remote deadlines.
var latencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
}

func newMetrics(reg prometheus.Registerer, h *Handler) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rendezvous_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rendezvous_http_request_duration_seconds",
			Help:    "HTTP request handling time by route pattern.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		modelLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rendezvous_model_latency_seconds",
			Help:    "Per-model prediction latency by role and outcome (ok, error, timeout, skipped, late).",
			Buckets: latencyBuckets,
		}, []string{"model", "role", "outcome"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rendezvous_fallbacks_total",
			Help: "Requests answered by a fallback model because production failed or missed its deadline.",
		}, []string{"served_by"}),
	}
	m.modelErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rendezvous_model_errors_total",
		Help: "Failed model calls by model and kind: a remote model's classified kind (timeout, refused, connection, http_4xx, http_5xx, bad_payload, circuit_open, …) or the result status (error, timeout, skipped) for in-process models.",
	}, []string{"model", "kind"})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.modelLatency, m.fallbacks, m.modelErrors, &stateCollector{h: h}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observeHTTP(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observeModel(res rendezvous.Result) {
	m.modelObserver(&res).Observe(res.Latency.Seconds())
	if res.Err != nil {
		kind := string(res.Status)
		var k interface{ ErrorKind() string }
		if errors.As(res.Err, &k) {
			kind = k.ErrorKind()
		}
		m.modelErrors.WithLabelValues(res.Name, kind).Inc()
	}
}

// stateCollector reads the recorder's Stats and the models' in-flight
// counts at scrape time.
type stateCollector struct{ h *Handler }

var (
	descQueueDepth = prometheus.NewDesc("rendezvous_recorder_queue_depth",
		"Records waiting in the recorder's queue.", nil, nil)
	descQueueCap = prometheus.NewDesc("rendezvous_recorder_queue_capacity",
		"Capacity of the recorder's queue (recorder.queue_size).", nil, nil)
	descEnqueued = prometheus.NewDesc("rendezvous_recorder_enqueued_total",
		"Records accepted by the recorder.", nil, nil)
	descWritten = prometheus.NewDesc("rendezvous_recorder_written_total",
		"Records written to the store.", nil, nil)
	descBatches = prometheus.NewDesc("rendezvous_recorder_batches_total",
		"Batches written to the store.", nil, nil)
	descDropped = prometheus.NewDesc("rendezvous_recorder_dropped_total",
		"Records dropped because the recorder's queue was full.", nil, nil)
	descQuarantined = prometheus.NewDesc("rendezvous_recorder_quarantined_total",
		"Records the reachable store refused on their own; logged in full and not retried.", nil, nil)
	descWriteErrors = prometheus.NewDesc("rendezvous_recorder_write_errors_total",
		"Failed batch writes to the store.", nil, nil)
	descDegraded = prometheus.NewDesc("rendezvous_recorder_degraded",
		"1 when the recorder reports itself degraded.", nil, nil)
	descInFlight = prometheus.NewDesc("rendezvous_model_in_flight",
		"Calls in flight per model.", []string{"model", "role"}, nil)
	descMaxInFlight = prometheus.NewDesc("rendezvous_model_max_in_flight",
		"In-flight cap per model (over it the model is skipped).", []string{"model", "role"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueCap, descEnqueued, descWritten, descBatches,
		descDropped, descQuarantined, descWriteErrors, descDegraded, descInFlight, descMaxInFlight} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.h.recStats != nil {
		s := c.h.recStats()
		gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
		}
		gauge(descQueueDepth, float64(s.QueueDepth))
		gauge(descQueueCap, float64(s.QueueCapacity))
		counter(descEnqueued, s.Enqueued)
		counter(descWritten, s.Written)
		counter(descBatches, s.Batches)
		counter(descDropped, s.Dropped)
		counter(descQuarantined, s.Quarantined)
		counter(descWriteErrors, s.WriteErrors)
		deg := 0.0
		if s.Degraded {
			deg = 1
		}
		gauge(descDegraded, deg)
	}
	for _, m := range c.h.router.Members() {
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(m.InFlight), m.Name, string(m.Role))
		ch <- prometheus.MustNewConstMetric(descMaxInFlight, prometheus.GaugeValue, float64(m.MaxInFlight), m.Name, string(m.Role))
	}
}

// routeObserver is observeHTTP for one route with its series resolved on
// first use (a route never called shows no series, as before): the request
// path does no label lookup for the status codes it has seen. It is safe
// for concurrent use.
type routeObserver struct {
	m     *metrics
	route string
	once  sync.Once
	// duration is set by once.
	duration prometheus.Observer
	codes    sync.Map // int → prometheus.Counter
}

func (m *metrics) forRoute(route string) *routeObserver {
	return &routeObserver{m: m, route: route}
}

func (o *routeObserver) observe(code int, d time.Duration) {
	o.once.Do(func() { o.duration = o.m.duration.WithLabelValues(o.route) })
	v, ok := o.codes.Load(code)
	if !ok {
		v, _ = o.codes.LoadOrStore(code, o.m.requests.WithLabelValues(o.route, strconv.Itoa(code)))
	}
	v.(prometheus.Counter).Inc()
	o.duration.Observe(d.Seconds())
}

// modelKey names one series of rendezvous_model_latency_seconds.
type modelKey struct {
	name   string
	role   model.Role
	status record.Status
}

// modelObserver returns the latency series of one model and outcome,
// resolved once per key.
func (m *metrics) modelObserver(res *rendezvous.Result) prometheus.Observer {
	k := modelKey{res.Name, res.Role, res.Status}
	if v, ok := m.models.Load(k); ok {
		return v.(prometheus.Observer)
	}
	v, _ := m.models.LoadOrStore(k, m.modelLatency.WithLabelValues(res.Name, string(res.Role), string(res.Status)))
	return v.(prometheus.Observer)
}

package gateway

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
)

// LatencyBuckets are the histogram buckets of every latency series: from
// in-process models (tens of µs) to remote deadlines.
var LatencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
}

// metrics are the model and recorder series.
type metrics struct {
	modelLatency *prometheus.HistogramVec // model, role, outcome
	fallbacks    *prometheus.CounterVec   // served_by
	modelErrors  *prometheus.CounterVec   // model, kind
	shed         *prometheus.CounterVec   // reason
	models       sync.Map                 // modelKey → prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, g *Gateway) (*metrics, error) {
	m := &metrics{
		modelLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rendezvous_model_latency_seconds",
			Help:    "Per-model prediction latency by role and outcome (ok, error, timeout, skipped, late).",
			Buckets: LatencyBuckets,
		}, []string{"model", "role", "outcome"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rendezvous_fallbacks_total",
			Help: "Requests answered by a fallback model because production failed or missed its deadline.",
		}, []string{"served_by"}),
		modelErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rendezvous_model_errors_total",
			Help: "Failed model calls by model and kind: a remote model's classified kind (timeout, refused, connection, http_4xx, http_5xx, bad_payload, circuit_open, …) or the result status (error, timeout, skipped) for in-process models.",
		}, []string{"model", "kind"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rendezvous_admission_shed_total",
			Help: "Prediction requests refused before any work (503 with Retry-After) by reason: queue_wait (no room within server.max_queue_wait), too_large (a batch over the whole limit), client_gone.",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.modelLatency, m.fallbacks, m.modelErrors, m.shed, &stateCollector{g: g}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts one request's model results and its fallback.
func (m *metrics) observe(dec rendezvous.Decision, results []rendezvous.Result) {
	for k := range results {
		res := &results[k]
		m.modelObserver(res).Observe(res.Latency.Seconds())
		if res.Err != nil {
			kind := string(res.Status)
			var k interface{ ErrorKind() string }
			if errors.As(res.Err, &k) {
				kind = k.ErrorKind()
			}
			m.modelErrors.WithLabelValues(res.Name, kind).Inc()
		}
	}
	if dec.Fallback && dec.ServedBy != "" {
		m.fallbacks.WithLabelValues(dec.ServedBy).Inc()
	}
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

// stateCollector reads the recorder's Stats and the models' in-flight
// counts at scrape time.
type stateCollector struct{ g *Gateway }

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
		"Records dropped: the queue was full and there was no spool, or the spool was full or failing, or recording had stopped.", nil, nil)
	descSpilled = prometheus.NewDesc("rendezvous_recorder_spilled_total",
		"Records sent to the spool because the recorder's queue was full.", nil, nil)
	descIDUnchecked = prometheus.NewDesc("rendezvous_request_id_unchecked_total",
		"Client request ids accepted while the store could not say whether they were used before.", nil, nil)
	descIDOutcome = prometheus.NewDesc("rendezvous_request_id_unchecked_outcome_total",
		"What the store showed, once reachable, for client ids accepted unchecked: verified, conflict (an earlier different request kept), retry (an earlier same request kept), unverified.", []string{"outcome"}, nil)
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
	descAdmitted = prometheus.NewDesc("rendezvous_admission_in_flight",
		"Predictions admitted and not yet answered (a batch counts its instances).", nil, nil)
	descAdmitLimit = prometheus.NewDesc("rendezvous_admission_limit",
		"The admission limit in force (server.max_in_flight, or less while the adaptive limit has cut it; 0 when admission control is off).", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueCap, descEnqueued, descWritten, descBatches,
		descDropped, descSpilled, descIDUnchecked, descIDOutcome, descQuarantined, descWriteErrors, descDegraded, descInFlight, descMaxInFlight, descAdmitted, descAdmitLimit} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if s, ok := c.g.RecorderStats(); ok {
		gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
		}
		gauge(descQueueDepth, float64(s.QueueDepth))
		gauge(descQueueCap, float64(s.QueueCap))
		counter(descEnqueued, s.Enqueued)
		counter(descWritten, s.Written)
		counter(descBatches, s.Batches)
		counter(descDropped, s.Dropped)
		counter(descSpilled, s.Spilled)
		counter(descQuarantined, s.Quarantined)
		counter(descWriteErrors, s.WriteErrors)
		deg := 0.0
		if s.Degraded {
			deg = 1
		}
		gauge(descDegraded, deg)
	}
	ids, _ := c.g.IDCheckStats()
	ch <- prometheus.MustNewConstMetric(descIDUnchecked, prometheus.CounterValue, float64(ids.Unchecked))
	for _, o := range []struct {
		name string
		n    uint64
	}{{"verified", ids.Verified}, {"conflict", ids.Conflicts}, {"retry", ids.Retries}, {"unverified", ids.Unverified}} {
		ch <- prometheus.MustNewConstMetric(descIDOutcome, prometheus.CounterValue, float64(o.n), o.name)
	}
	inFlight, limit := c.g.AdmissionState()
	ch <- prometheus.MustNewConstMetric(descAdmitted, prometheus.GaugeValue, float64(inFlight))
	ch <- prometheus.MustNewConstMetric(descAdmitLimit, prometheus.GaugeValue, float64(limit))
	for _, m := range c.g.Models() {
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(m.InFlight), m.Name, string(m.Role))
		ch <- prometheus.MustNewConstMetric(descMaxInFlight, prometheus.GaugeValue, float64(m.MaxInFlight), m.Name, string(m.Role))
	}
}

package api

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
)

// metrics are the HTTP series (the model and recorder series are the
// gateway's).
type metrics struct {
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rendezvous_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rendezvous_http_request_duration_seconds",
			Help:    "HTTP request handling time by route pattern.",
			Buckets: gateway.LatencyBuckets,
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
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

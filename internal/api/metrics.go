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
	duration *prometheus.HistogramVec // route, class
}

// statusClass is the class label of a status code: "2xx" … "5xx". A shed
// 503 takes microseconds and an answered 200 milliseconds; one histogram
// per class keeps the two apart.
func statusClass(code int) string {
	switch {
	case code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rendezvous_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rendezvous_http_request_duration_seconds",
			Help:    "HTTP request handling time (from the handler's start to the answer written) by route pattern and status class.",
			Buckets: gateway.LatencyBuckets,
		}, []string{"route", "class"}),
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
	m.duration.WithLabelValues(route, statusClass(code)).Observe(d.Seconds())
}

// routeObserver is observeHTTP for one route with its series resolved on
// first use (a route never called shows no series, as before): the request
// path does no label lookup for the status codes it has seen. It is safe
// for concurrent use.
type routeObserver struct {
	m     *metrics
	route string
	codes sync.Map // int → routeSeries
}

// routeSeries are one route's series for one status code.
type routeSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

func (m *metrics) forRoute(route string) *routeObserver {
	return &routeObserver{m: m, route: route}
}

func (o *routeObserver) observe(code int, d time.Duration) {
	v, ok := o.codes.Load(code)
	if !ok {
		v, _ = o.codes.LoadOrStore(code, routeSeries{
			count:    o.m.requests.WithLabelValues(o.route, strconv.Itoa(code)),
			duration: o.m.duration.WithLabelValues(o.route, statusClass(code)),
		})
	}
	rs := v.(routeSeries)
	rs.count.Inc()
	rs.duration.Observe(d.Seconds())
}

package remote_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/remote"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
)

// BenchmarkModel_Predict is one remote call to a local server answering a
// fixed body: the client's own cost (encode, HTTP round trip on a kept-alive
// connection, decode) plus the loopback server's.
func BenchmarkModel_Predict(b *testing.B) {
	for _, tc := range []struct {
		name     string
		protocol remote.Protocol
		body     string
	}{
		{"oip-v2", remote.ProtocolOIPv2, `{"model_name":"m","outputs":[{"name":"predict","shape":[1],"datatype":"INT64","data":[1]},{"name":"predict_proba","shape":[1,2],"datatype":"FP64","data":[0.2,0.8]}]}`},
		{"mlflow", remote.ProtocolMLflow, `{"predictions": [{"prediction": 1, "probability": 0.8}]}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			cfg := remote.Config{Name: "bench", Protocol: tc.protocol, URL: srv.URL, Model: "m"}
			if tc.protocol == remote.ProtocolOIPv2 {
				cfg.ClassOutput, cfg.ProbabilityOutput = "predict", "predict_proba"
			}
			m := newRemote(b, cfg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				if _, err := m.Predict(ctx, passenger); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
		})
	}
}

// BenchmarkRouter_ProductionLatencyWithARemoteChallenger measures how long
// the caller waits for production's answer (Route's return) when a remote
// challenger is (a) absent, (b) answering in 1 ms, (c) sleeping 2 s past
// its 50 ms deadline, (d) failing every other request with a 500.
// Production is the embedded GBT bundle and the canary the rule bundle, in
// process; the challenger is the logistic bundle behind an OIP v2 server in
// another process on the same machine. (b), (c) and (d) run twice: with the default breaker (which opens after
// 5 consecutive failures and then skips the challenger) and with a breaker
// that never opens, so every request really calls the bad remote. Requests
// are paced at one every 2 ms (500/s: what the shared 2-core machine sustains
// for the loopback server too), so the slow and failing challengers have
// calls in flight all the time, as under steady traffic. Reports p50, p99 and
// max of the decision latency in µs and logs the challenger's outcomes; run
// with -benchtime=2000x.
func BenchmarkRouter_ProductionLatencyWithARemoteChallenger(b *testing.B) {
	const pace = 2 * time.Millisecond
	const noBreaker = 1 << 30 // a breaker that never opens
	for _, tc := range []struct {
		name     string
		how      *behaviour // nil: no challenger
		failures int        // breaker threshold (0: the default 5)
	}{
		{"a-no-challenger", nil, 0},
		{"b-remote-1ms", &behaviour{delay: time.Millisecond}, 0},
		{"b-remote-1ms-no-breaker", &behaviour{delay: time.Millisecond}, noBreaker},
		{"c-remote-sleeping-2s", &behaviour{delay: 2 * time.Second}, 0},
		{"c-remote-sleeping-2s-no-breaker", &behaviour{delay: 2 * time.Second}, noBreaker},
		{"d-remote-failing-50pct", &behaviour{failEven: true}, 0},
		{"d-remote-failing-50pct-no-breaker", &behaviour{failEven: true}, noBreaker},
	} {
		b.Run(tc.name, func(b *testing.B) {
			members := []rendezvous.Member{
				{Name: "prod-gbt", Role: model.RoleProduction, Model: bundle(b, "prod-gbt"), Deadline: 50 * time.Millisecond},
				{Name: "canary-rule", Role: model.RoleCanary, Model: bundle(b, "canary-rule"), Deadline: 50 * time.Millisecond},
			}
			var rm *remote.Model
			if tc.how != nil {
				bl := bundle(b, "dev-logreg")
				rm = newRemote(b, remote.Config{Name: "dev-remote", Protocol: remote.ProtocolOIPv2, URL: startServerProcess(b, *tc.how),
					Model: bl.Name, ClassOutput: "predict", ProbabilityOutput: "predict_proba", BreakerFailures: tc.failures})
				members = append(members, rendezvous.Member{Name: "dev-remote", Role: model.RoleChallenger, Model: rm, Deadline: 50 * time.Millisecond})
				if tc.how.delay < time.Second {
					// Warm up the server process and the connection pool.
					for range 20 {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						rm.Predict(ctx, passenger)
						cancel()
					}
				}
			}
			r, err := rendezvous.New(members, rendezvous.Policy{Fallback: []string{"canary-rule"}})
			if err != nil {
				b.Fatal(err)
			}
			// complete counts the challenger's outcomes by status and
			// error kind ("ok", "timeout/timeout", "error/http_5xx", …).
			var mu sync.Mutex
			outcomes := map[string]int{}
			complete := func(_ rendezvous.Decision, res []rendezvous.Result) {
				if len(res) < 3 {
					return
				}
				key := string(res[2].Status)
				if k := remote.KindOf(res[2].Err); k != "" {
					key += "/" + string(k)
				}
				if res[2].Err != nil && remote.KindOf(res[2].Err) == "" {
					key += "/" + res[2].Err.Error()
				}
				mu.Lock()
				outcomes[key]++
				mu.Unlock()
			}
			lat := make([]time.Duration, 0, b.N)
			notProd := 0
			ctx := context.Background()
			next := time.Now()
			b.ResetTimer()
			for b.Loop() {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(pace)
				start := time.Now()
				dec, err := r.Route(ctx, passenger, complete)
				lat = append(lat, time.Since(start))
				if err != nil || dec.ServedBy != "prod-gbt" {
					// Production missed its 50 ms deadline: on a shared
					// machine a stall of the whole process does that.
					notProd++
				}
			}
			b.StopTimer()
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r.Wait(wctx)
			cancel()
			slices.Sort(lat)
			q := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
			}
			b.ReportMetric(q(0.50), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e3, "max-µs")
			b.ReportMetric(float64(notProd), "not-served-by-prod")
			if rm != nil {
				mu.Lock()
				b.Logf("challenger outcomes %v; breaker state at the end: %s", outcomes, rm.State())
				mu.Unlock()
			}
		})
	}
}

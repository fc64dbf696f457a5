package natsmodel_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
	"github.com/rendezvous-gw/rendezvous/internal/model/remote"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// The benchmark re-executes the test binary as a helper process: a NATS
// worker (benchWorkerEnv=URL) or an OIP v2 server (benchOIPEnv=1), both
// serving the example's prod-gbt bundle, until their stdin closes.
const (
	benchWorkerEnv = "RENDEZVOUS_NATSBENCH_WORKER"
	benchOIPEnv    = "RENDEZVOUS_NATSBENCH_OIP"
	prodBundle     = "../../../examples/titanic/models/prod-gbt.json"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(benchWorkerEnv) != "":
		os.Exit(helperProcess(serveNATS))
	case os.Getenv(benchOIPEnv) != "":
		os.Exit(helperProcess(serveOIP))
	}
	os.Exit(m.Run())
}

// helperProcess runs serve, which prints its READY line, then waits for
// stdin to close.
func helperProcess(serve func(b *model.Bundle) error) int {
	b, err := model.Load(prodBundle)
	if err == nil {
		err = serve(b)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

func serveNATS(b *model.Bundle) error {
	nc, err := nats.Connect(os.Getenv(benchWorkerEnv))
	if err != nil {
		return err
	}
	if _, err := natsmodel.Serve(nc, natsmodel.WorkerOptions{Name: "prod-gbt", Model: b, Concurrency: 4}); err != nil {
		return err
	}
	fmt.Println("READY")
	return nil
}

// serveOIP answers OIP v2 inference requests of the "fields" layout (one
// [1] tensor per input field) with predict and predict_proba outputs.
func serveOIP(b *model.Bundle) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Inputs []struct {
				Name string `json:"name"`
				Data []any  `json:"data"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		in := schema.Input{}
		for _, t := range req.Inputs {
			if len(t.Data) == 1 {
				in[t.Name] = t.Data[0]
			}
		}
		p, err := b.Predict(r.Context(), in)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"model_name":"prod-gbt","outputs":[{"name":"predict","shape":[1],"datatype":"INT64","data":[%d]},{"name":"predict_proba","shape":[1,2],"datatype":"FP64","data":[%g,%g]}]}`,
			p.Class, 1-p.Probability, p.Probability)
	}))
	fmt.Println("READY http://" + ln.Addr().String())
	return nil
}

// startHelper starts the helper process with env and returns its READY
// line's argument.
func startHelper(tb testing.TB, env string) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "READY")
	if err != nil || !ok {
		tb.Fatalf("helper process: %q, %v", line, err)
	}
	return strings.TrimSpace(rest)
}

var benchPassenger = schema.Input{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S"}

// BenchmarkRouter_ProductionLatencyByTransport measures how long the caller
// waits for production's answer (Route's return) when production — the
// example's prod-gbt bundle — runs (a) in process, (b) in a NATS worker
// process through the machine's NATS server (CI: required), (c) in an OIP
// v2 server process over HTTP. The canary (rule bundle) is in process.
// Requests are paced at one per millisecond (1,000/s, open loop); every
// member has a 50 ms deadline. Reports p50, p99 and max in µs; run with
// -benchtime=5000x.
func BenchmarkRouter_ProductionLatencyByTransport(b *testing.B) {
	url := testenv.NATSURL(b)
	canary, err := model.Load("../../../examples/titanic/models/canary-rule.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []string{"a-in-process", "b-nats-worker", "c-oip-v2-remote"} {
		b.Run(tc, func(b *testing.B) {
			var prod model.Model
			switch tc {
			case "a-in-process":
				bl, err := model.Load(prodBundle)
				if err != nil {
					b.Fatal(err)
				}
				prod = bl
			case "b-nats-worker":
				startHelper(b, benchWorkerEnv+"="+url)
				m, err := natsmodel.New(natsmodel.Config{Name: "prod-gbt", URL: url})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(m.Close)
				prod = m
			case "c-oip-v2-remote":
				var fields []remote.Field
				for _, f := range []string{"pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"} {
					fields = append(fields, remote.Field{Name: f})
				}
				m, err := remote.New(remote.Config{Name: "prod-gbt", Protocol: remote.ProtocolOIPv2, URL: startHelper(b, benchOIPEnv+"=1"),
					Model: "prod-gbt", ClassOutput: "predict", ProbabilityOutput: "predict_proba", Fields: fields})
				if err != nil {
					b.Fatal(err)
				}
				prod = m
			}
			for range 50 { // warm up connections and the helper
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if _, err := prod.Predict(ctx, benchPassenger); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
			r, err := rendezvous.New([]rendezvous.Member{
				{Name: "prod-gbt", Role: model.RoleProduction, Model: prod, Deadline: 50 * time.Millisecond},
				{Name: "canary-rule", Role: model.RoleCanary, Model: canary, Deadline: 50 * time.Millisecond},
			}, rendezvous.Policy{Fallback: []string{"canary-rule"}})
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			notProd := 0
			next := time.Now()
			for b.Loop() {
				if d := time.Until(next); d > 0 {
					time.Sleep(d) // pacing the open-loop load, not synchronisation
				}
				next = next.Add(time.Millisecond)
				start := time.Now()
				dec, err := r.Route(context.Background(), benchPassenger, nil)
				lat = append(lat, time.Since(start))
				if err != nil || dec.ServedBy != "prod-gbt" {
					notProd++
				}
			}
			b.StopTimer()
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
		})
	}
}

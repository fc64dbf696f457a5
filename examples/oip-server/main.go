// Command oip-server is a tiny Open Inference Protocol v2 (KServe V2) REST
// server that serves one Rendezvous model bundle; on the same port it also
// speaks the MLflow scoring server's API (POST /invocations, GET /ping). It
// stands in for a KServe, Triton, MLServer or `mlflow models serve`
// deployment so you can try a remote challenger on one machine:
//
//	go run ./examples/oip-server -addr 127.0.0.1:8081
//	curl -s localhost:8081/v2/models/dev-logreg/infer -d '{"inputs":[
//	  {"name":"pclass","shape":[1],"datatype":"INT64","data":[3]},
//	  {"name":"sex","shape":[1],"datatype":"BYTES","data":["male"]}]}'
//
// It serves the bundle's raw input fields as one tensor per field (shape [1]
// or [N]) and answers with the outputs "predict" (INT64 class) and
// "predict_proba" (FP64, shape [N, 2]: both classes' probabilities). -delay
// and -fail-rate make it slow or flaky, to watch deadlines and the circuit
// breaker at work.
//
// It implements the protocol on its own (net/http and encoding/json only),
// independently of the gateway's client and server code.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "oip-server:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("oip-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	bundlePath := fs.String("bundle", "", "model bundle file (default: the embedded Titanic dev-logreg bundle)")
	name := fs.String("name", "", "model name in URLs (default: the bundle's name)")
	delay := fs.Duration("delay", 0, "sleep this long before answering each inference (simulates a slow model)")
	failRate := fs.Float64("fail-rate", 0, "answer this fraction of inferences with 500 (0 to 1)")
	mlflowOut := fs.String("mlflow-predictions", "class", `what POST /invocations returns per row: "class" ([c], like a scikit-learn classifier under mlflow models serve), "probability" ([p]) or "both" ([{"prediction": c, "probability": p}])`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *failRate < 0 || *failRate > 1 {
		return fmt.Errorf("-fail-rate %g: must be in [0, 1]", *failRate)
	}
	switch *mlflowOut {
	case "class", "probability", "both":
	default:
		return fmt.Errorf(`-mlflow-predictions %q: want "class", "probability" or "both"`, *mlflowOut)
	}
	b, err := loadBundle(*bundlePath)
	if err != nil {
		return err
	}
	s := &server{bundle: b, name: *name, delay: *delay, failRate: *failRate, mlflowOut: *mlflowOut}
	if s.name == "" {
		s.name = b.Name
	}
	srv := &http.Server{Addr: *addr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	slog.Info("serving OIP v2", "addr", *addr, "model", s.name, "version", b.Version, "delay", *delay, "fail_rate", *failRate)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func loadBundle(path string) (*model.Bundle, error) {
	if path != "" {
		return model.Load(path)
	}
	data, err := titanic.FS.ReadFile("models/dev-logreg.json")
	if err != nil {
		return nil, err
	}
	return model.LoadBytes("models/dev-logreg.json", data)
}

type server struct {
	bundle   *model.Bundle
	name     string
	delay    time.Duration
	failRate float64
	// mlflowOut is "class", "probability" or "both" ("" means class).
	mlflowOut string
}

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) }
	mux.HandleFunc("GET /v2/health/live", ok)
	mux.HandleFunc("GET /v2/health/ready", ok)
	mux.HandleFunc("GET /v2/models/{name}/ready", s.withModel(ok))
	mux.HandleFunc("GET /v2/models/{name}", s.withModel(s.metadata))
	mux.HandleFunc("POST /v2/models/{name}/infer", s.withModel(s.infer))
	mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", s.withModel(s.infer))
	// The MLflow scoring server's API, on the same port.
	mux.HandleFunc("GET /ping", ok)
	mux.HandleFunc("GET /health", ok)
	mux.HandleFunc("POST /invocations", s.invocations)
	return mux
}

// withModel answers 404 for any model name or version but the served one.
func (s *server) withModel(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != s.name {
			writeJSON(w, 404, map[string]string{"error": "unknown model " + strconv.Quote(r.PathValue("name"))})
			return
		}
		if v := r.PathValue("version"); v != "" && v != s.bundle.Version {
			writeJSON(w, 404, map[string]string{"error": "unknown version " + strconv.Quote(v)})
			return
		}
		h(w, r)
	}
}

func datatype(t schema.Type) string {
	switch t {
	case schema.TypeInteger:
		return "INT64"
	case schema.TypeString:
		return "BYTES"
	case schema.TypeBoolean:
		return "BOOL"
	}
	return "FP64"
}

func (s *server) metadata(w http.ResponseWriter, r *http.Request) {
	type tensor struct {
		Name     string `json:"name"`
		Datatype string `json:"datatype"`
		Shape    []int  `json:"shape"`
	}
	var inputs []tensor
	for _, f := range s.bundle.Pipeline.Inputs {
		inputs = append(inputs, tensor{f.Name, datatype(f.Type), []int{-1}})
	}
	writeJSON(w, 200, map[string]any{
		"name": s.name, "versions": []string{s.bundle.Version}, "platform": "rendezvous-bundle:" + s.bundle.Algorithm,
		"inputs":  inputs,
		"outputs": []tensor{{"predict", "INT64", []int{-1}}, {"predict_proba", "FP64", []int{-1, 2}}},
	})
}

type inferRequest struct {
	ID     string `json:"id"`
	Inputs []struct {
		Name     string `json:"name"`
		Shape    []int  `json:"shape"`
		Datatype string `json:"datatype"`
		Data     []any  `json:"data"`
	} `json:"inputs"`
}

type outputTensor struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	Data     any    `json:"data"`
}

func (s *server) infer(w http.ResponseWriter, r *http.Request) {
	var req inferRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]string{"error": "decode request: " + err.Error()})
		return
	}
	if !s.simulate(w, r) {
		return
	}
	if len(req.Inputs) == 0 {
		writeJSON(w, 400, map[string]string{"error": "inputs: at least one tensor is required"})
		return
	}
	n := len(req.Inputs[0].Data)
	rows := make([]schema.Input, n)
	for i := range rows {
		rows[i] = schema.Input{}
	}
	for _, t := range req.Inputs {
		if len(t.Data) != n {
			writeJSON(w, 400, map[string]string{"error": fmt.Sprintf("input %q has %d elements, want %d", t.Name, len(t.Data), n)})
			return
		}
		for i, v := range t.Data {
			switch v := v.(type) {
			case []any: // [N,1] sent nested
				if len(v) != 1 {
					writeJSON(w, 400, map[string]string{"error": fmt.Sprintf("input %q: want one value per row", t.Name)})
					return
				}
				rows[i][t.Name] = v[0]
			default:
				rows[i][t.Name] = v
			}
		}
	}
	classes := make([]int64, n)
	probs := make([]float64, 0, 2*n) // row-major [N, 2]
	for i, in := range rows {
		p, err := s.bundle.Predict(r.Context(), in)
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		classes[i] = int64(p.Class)
		probs = append(probs, 1-p.Probability, p.Probability)
	}
	writeJSON(w, 200, map[string]any{
		"model_name": s.name, "model_version": s.bundle.Version, "id": req.ID,
		"outputs": []outputTensor{
			{Name: "predict", Shape: []int{n}, Datatype: "INT64", Data: classes},
			{Name: "predict_proba", Shape: []int{n, 2}, Datatype: "FP64", Data: probs},
		},
	})
}

// simulate applies -delay and -fail-rate; false means the response is
// written (or the client is gone).
func (s *server) simulate(w http.ResponseWriter, r *http.Request) bool {
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return false // the client gave up
		}
	}
	if s.failRate > 0 && rand.Float64() < s.failRate {
		writeJSON(w, 500, map[string]string{"error": "simulated failure (-fail-rate)"})
		return false
	}
	return true
}

// invocations serves MLflow's POST /invocations for a dataframe_split body.
func (s *server) invocations(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Split *struct {
			Columns []string `json:"columns"`
			Data    [][]any  `json:"data"`
		} `json:"dataframe_split"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Split == nil {
		writeJSON(w, 400, map[string]string{"error_code": "BAD_REQUEST", "message": "want a dataframe_split body"})
		return
	}
	if !s.simulate(w, r) {
		return
	}
	preds := make([]any, 0, len(req.Split.Data))
	for i, row := range req.Split.Data {
		if len(row) != len(req.Split.Columns) {
			writeJSON(w, 400, map[string]string{"error_code": "BAD_REQUEST", "message": fmt.Sprintf("row %d has %d values for %d columns", i, len(row), len(req.Split.Columns))})
			return
		}
		in := schema.Input{}
		for j, c := range req.Split.Columns {
			in[c] = row[j]
		}
		p, err := s.bundle.Predict(r.Context(), in)
		if err != nil {
			writeJSON(w, 400, map[string]string{"error_code": "BAD_REQUEST", "message": err.Error()})
			return
		}
		switch s.mlflowOut {
		case "probability":
			preds = append(preds, p.Probability)
		case "both":
			preds = append(preds, map[string]any{"prediction": p.Class, "probability": p.Probability})
		default:
			preds = append(preds, p.Class)
		}
	}
	writeJSON(w, 200, map[string]any{"predictions": preds})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

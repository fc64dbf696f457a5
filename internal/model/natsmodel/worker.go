package natsmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/rendezvous-gw/rendezvous/internal/model"
)

// Metadata keys of a worker's service announcement.
const (
	MetaModel     = "model"     // the model name the worker serves
	MetaVersion   = "version"   // the bundle's version
	MetaAlgorithm = "algorithm" // the bundle's algorithm
	MetaArtifact  = "artifact"  // "sha256:<hex>" of the bundle file
	MetaSubject   = "subject"   // rendezvous.model.<name>
)

// semVerRE is the NATS service API's version rule.
var semVerRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// WorkerOptions configures Serve.
type WorkerOptions struct {
	// Name is the model name: the subject is rendezvous.model.<Name>
	// (required; see CheckName).
	Name string
	// Model answers the requests (required).
	Model model.Model
	// Concurrency is how many requests this worker scores at once
	// (default 1). Each slot is one subscription in the queue group, so
	// NATS spreads a model's requests over all its workers' slots.
	Concurrency int
	// Version is announced as the service version: the rendezvous build
	// ("v1.2.0" is announced "1.2.0"; anything not SemVer, "0.0.0"). The
	// bundle's own version is in the metadata.
	Version string
	// Logger receives prediction failures (default slog.Default()).
	Logger *slog.Logger
}

// Worker is one running worker. Stop it with Drain.
type Worker struct {
	nc   *nats.Conn
	svc  micro.Service
	opts WorkerOptions
}

// Serve announces opts.Model as a NATS service on nc and answers its
// requests until Drain (or until nc closes). It returns once the
// subscriptions are registered with the server, so a request published
// after Serve returns can reach this worker.
func Serve(nc *nats.Conn, opts WorkerOptions) (*Worker, error) {
	if err := CheckName(opts.Name); err != nil {
		return nil, err
	}
	if opts.Model == nil {
		return nil, errors.New("worker: model is required")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	opts.Version = strings.TrimPrefix(opts.Version, "v")
	if !semVerRE.MatchString(opts.Version) {
		opts.Version = "0.0.0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	info := opts.Model.Info()
	w := &Worker{nc: nc, opts: opts}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServicePrefix + opts.Name,
		Version:     opts.Version,
		Description: "Rendezvous model worker for " + opts.Name,
		Metadata: map[string]string{
			MetaModel: opts.Name, MetaVersion: info.Version, MetaAlgorithm: info.Algorithm,
			MetaArtifact: info.Artifact, MetaSubject: Subject(opts.Name),
		},
		QueueGroup: QueueGroup,
	})
	if err != nil {
		return nil, fmt.Errorf("announce model %q on NATS: %w", opts.Name, err)
	}
	w.svc = svc
	for i := range opts.Concurrency {
		err := svc.AddEndpoint("predict-"+strconv.Itoa(i), micro.HandlerFunc(w.handle),
			micro.WithEndpointSubject(Subject(opts.Name)))
		if err != nil {
			svc.Stop()
			return nil, fmt.Errorf("subscribe to %s: %w", Subject(opts.Name), err)
		}
	}
	if err := nc.Flush(); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("register the subscriptions of %s with the NATS server: %w", Subject(opts.Name), err)
	}
	return w, nil
}

// Service returns the worker's NATS service (its info and stats).
func (w *Worker) Service() micro.Service { return w.svc }

// handle scores one request. It runs on the subscription's own goroutine,
// so a worker scores at most Concurrency requests at once and the rest
// wait in the client's pending buffer (or at another worker).
func (w *Worker) handle(req micro.Request) {
	var in Request
	if err := json.Unmarshal(req.Data(), &in); err != nil {
		req.Error("400", "decode request: "+err.Error(), nil)
		return
	}
	p, err := w.opts.Model.Predict(context.Background(), in.Input)
	if err != nil {
		w.opts.Logger.Warn("worker prediction failed", "model", w.opts.Name, "error", err)
		req.Error("500", err.Error(), nil)
		return
	}
	body, err := json.Marshal(replyOf(p))
	if err != nil {
		req.Error("500", "encode reply: "+err.Error(), nil)
		return
	}
	if err := req.Respond(body); err != nil {
		w.opts.Logger.Warn("worker reply failed", "model", w.opts.Name, "error", err)
	}
}

// Drain stops taking requests, finishes (and answers) the ones already
// received, and closes the connection; it returns when the connection is
// closed or ctx ends (then the connection is closed at once). Requests
// published after Drain starts go to the model's other workers, or get
// no-responders when there is none.
func (w *Worker) Drain(ctx context.Context) error {
	closed := make(chan struct{})
	w.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if w.nc.IsClosed() {
		return nil
	}
	if err := w.nc.Drain(); err != nil {
		w.nc.Close()
		return fmt.Errorf("drain the NATS connection: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		w.nc.Close()
		return fmt.Errorf("drain the NATS connection: %w", ctx.Err())
	}
}

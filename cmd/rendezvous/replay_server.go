package main

import (
	"cmp"
	"context"
	"log/slog"
	"runtime"

	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/replay"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// serverReplay is POST /v1/replay's work: the candidate loaded as POST
// /v1/models loads a model (gateway.LoadSource), replayed over the
// server's own store st and reported on against the live deployment's
// production. Nil when st keeps no replay results.
func serverReplay(cfg *config.Config, st store.Store, gw *gateway.Gateway, log *slog.Logger) api.ReplayFunc {
	sink, ok := st.(store.ReplayStore)
	if !ok {
		return nil
	}
	return func(req api.ReplayRequest) (api.ReplayRun, error) {
		m, err := gateway.LoadSource(cfg, req.Name, req.Candidate, log)
		if err != nil {
			return nil, err
		}
		c := replayCandidate{name: cmp.Or(req.Name, m.Info().Name), m: m, inputs: schemaInputs(cfg)}
		if b, ok := m.(*model.Bundle); ok {
			c.bundle, c.inputs = b, b.Pipeline.Inputs
		}
		if err := checkReplayName(gw.Deployment().Members, c.name); err != nil {
			closeModel(m)
			return nil, err
		}
		return func(ctx context.Context, progress func(any)) (any, error) {
			defer closeModel(m)
			var pf func(monitor.ReplayProgress)
			if progress != nil {
				pf = func(p monitor.ReplayProgress) { progress(p) }
			}
			p := replay.Params{Source: st, Sink: sink, Sample: req.Sample, Concurrency: cmp.Or(req.Concurrency, runtime.GOMAXPROCS(0))}
			return replayAndReport(ctx, cfg, st, gw.Deployment().Members, c, p, monitor.Window{Since: req.Since, Until: req.Until}, pf)
		}, nil
	}
}

// closeModel releases a candidate's connections when the model holds any
// (remote and NATS models have a Close method).
func closeModel(m model.Model) {
	if c, ok := m.(interface{ Close() }); ok {
		c.Close()
	}
}

// schemaInputs are the configuration's schema fields as the raw inputs a
// model without a pipeline of its own (a remote model) reads.
func schemaInputs(cfg *config.Config) []model.InputField {
	var inputs []model.InputField
	for _, fd := range cfg.Schema.Fields {
		inputs = append(inputs, model.InputField{Name: fd.Name, Type: schema.Type(fd.Type)})
	}
	return inputs
}

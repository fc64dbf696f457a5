package main

import (
	"log/slog"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/api/insight"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/export"
	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// buildMonitor returns the monitor of the configured models over st. Bundle
// models bring their reference sample for drift; remote models have none.
func buildMonitor(cfg *config.Config, st store.Store, members []rendezvous.Member) (*monitor.Monitor, error) {
	models := make([]monitor.Model, len(members))
	for i, m := range members {
		models[i] = monitor.Model{Name: m.Name, Role: m.Role}
		if b, ok := m.Model.(*model.Bundle); ok {
			models[i].Bundle = b
		}
	}
	fields := make([]string, len(cfg.Schema.Fields))
	for i, f := range cfg.Schema.Fields {
		fields[i] = f.Name
	}
	return monitor.New(monitor.Params{Store: st, Models: models, Fields: fields, MinLabelledPairs: cfg.Analysis.MinLabelledPairs,
		Drift: analysis.DriftOptions{MinSample: cfg.Analysis.DriftMinSample}})
}

// exportPlanner starts every export with the configured input fields and
// models, so columns keep the configuration's order.
func exportPlanner(cfg *config.Config, members []rendezvous.Member) func() *export.Planner {
	fields := make([]export.Field, len(cfg.Schema.Fields))
	for i, f := range cfg.Schema.Fields {
		fields[i] = export.Field{Name: f.Name, Type: f.Type}
	}
	models := make([]export.ModelColumns, len(members))
	for i, m := range members {
		models[i] = export.ModelColumns{Name: m.Name}
		if b, ok := m.Model.(*model.Bundle); ok && b.Pipeline != nil {
			models[i].Features = b.Pipeline.Features()
		}
	}
	return func() *export.Planner { return export.NewPlanner(fields, models) }
}

// insightRoutes are the feedback and analysis routes over st.
// Feedback goes through the recorder (rec, nil when not recording), so it
// is spooled like records while the store is down.
func insightRoutes(cfg *config.Config, st store.Store, rec *record.Recorder, mon *monitor.Monitor, members []rendezvous.Member, log *slog.Logger) []api.Route {
	var sink feedback.Sink
	if rec != nil {
		sink = rec
	}
	fb := feedback.New(st, sink, cfg.Labels.Words, time.Now)
	fb.MaxIDBytes = cfg.Schema.MaxEntityIDBytes
	return insight.Routes(insight.Params{
		Monitor:  mon,
		Feedback: fb,
		Export:   st,
		Planner:  exportPlanner(cfg, members),
		// Each page of an export has server.write_timeout to be written.
		ExportWriteTimeout: cfg.Server.WriteTimeout,
		Logger:             log,
	})
}

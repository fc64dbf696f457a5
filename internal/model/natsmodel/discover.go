package natsmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// WorkerInfo is one live worker as the NATS service API describes it.
type WorkerInfo struct {
	// Model is the model name it serves; ID the service instance's id.
	Model string `json:"model"`
	ID    string `json:"id"`
	// Version, Algorithm and Artifact are the served bundle's.
	Version   string `json:"version"`
	Algorithm string `json:"algorithm"`
	Artifact  string `json:"artifact"`
	Subject   string `json:"subject"`
	// Concurrency is the number of its subscriptions (endpoints).
	Concurrency int `json:"concurrency"`
	// Requests, Errors and AverageProcessing sum its endpoints' stats
	// since it started (the average is over all of them).
	Requests          int           `json:"requests"`
	Errors            int           `json:"errors"`
	AverageProcessing time.Duration `json:"average_processing_ns"`
	Started           time.Time     `json:"started"`
}

// Discover asks every rendezvous worker reachable on nc for its info and
// stats ($SRV.INFO and $SRV.STATS of the NATS service API) and collects the
// answers that arrive within wait. The result is sorted by model, then id.
func Discover(ctx context.Context, nc *nats.Conn, wait time.Duration) ([]WorkerInfo, error) {
	var infos []micro.Info
	if err := gather(ctx, nc, "$SRV.INFO", wait, &infos); err != nil {
		return nil, err
	}
	var stats []micro.Stats
	if err := gather(ctx, nc, "$SRV.STATS", wait, &stats); err != nil {
		return nil, err
	}
	byID := make(map[string]micro.Stats, len(stats))
	for _, s := range stats {
		byID[s.ID] = s
	}
	var out []WorkerInfo
	for _, in := range infos {
		if !strings.HasPrefix(in.Name, ServicePrefix) {
			continue
		}
		w := WorkerInfo{
			Model: in.Metadata[MetaModel], ID: in.ID, Version: in.Metadata[MetaVersion],
			Algorithm: in.Metadata[MetaAlgorithm], Artifact: in.Metadata[MetaArtifact],
			Subject: in.Metadata[MetaSubject], Concurrency: len(in.Endpoints),
		}
		if s, ok := byID[in.ID]; ok {
			var total time.Duration
			for _, e := range s.Endpoints {
				w.Requests += e.NumRequests
				w.Errors += e.NumErrors
				total += e.ProcessingTime
			}
			if w.Requests > 0 {
				w.AverageProcessing = total / time.Duration(w.Requests)
			}
			w.Started = s.Started
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// gather publishes an empty request on subject and decodes every reply that
// arrives within wait into a new element of *dst.
func gather[T any](ctx context.Context, nc *nats.Conn, subject string, wait time.Duration, dst *[]T) error {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("subscribe for %s replies: %w", subject, err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return fmt.Errorf("ask %s: %w", subject, err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the collection window is over
			}
			return fmt.Errorf("read %s replies: %w", subject, err)
		}
		var v T
		if err := json.Unmarshal(msg.Data, &v); err != nil {
			continue // not a service API answer
		}
		*dst = append(*dst, v)
	}
}

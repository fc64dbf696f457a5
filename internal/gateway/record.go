package gateway

import (
	"encoding/json"
	"strconv"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// BuildRecord turns the rendezvous's final view of one request into its
// record: the request, every member's result (keyed by member name) and
// the decision. A member that answered (ok or late) keeps its prediction,
// probability and label word; every member keeps its features, latency,
// status and error. The status is ok when someone served, else
// unavailable.
func (d *Deployment) BuildRecord(req Request, dec rendezvous.Decision, results []rendezvous.Result) record.Record {
	rec := record.Record{
		ID:         req.ID,
		ReceivedAt: req.Received,
		Endpoint:   req.Endpoint,
		EntityID:   req.EntityID,
		Input:      req.Input,
		Models:     make(map[string]record.ModelResult, len(results)),
	}
	// One allocation for every model's prediction and probability (the
	// record points into it).
	type answer struct {
		class int
		p     float64
	}
	answers := make([]answer, len(results))
	for k, res := range results {
		mr := record.ModelResult{
			Role:      res.Role,
			Version:   res.Info.Version,
			Artifact:  res.Info.Artifact,
			Features:  res.Prediction.Features,
			LatencyUS: res.Latency.Microseconds(),
			Status:    res.Status,
		}
		if res.Status == record.StatusOK || res.Status == record.StatusLate {
			a := &answers[k]
			a.class, a.p = res.Prediction.Class, res.Prediction.Probability
			mr.Prediction, mr.Probability = &a.class, &a.p
			mr.Label = d.Label(res.Prediction.Class, res.Prediction.Label)
		}
		if res.Err != nil {
			mr.Error = res.Err.Error()
		}
		rec.Models[res.Name] = mr
	}
	rec.Decision = &record.Decision{
		ServedBy:   dec.ServedBy,
		Reason:     dec.Reason,
		DeadlineMS: dec.Deadline.Milliseconds(),
		LatencyUS:  dec.Latency.Microseconds(),
		Deployment: d.Seq,
	}
	rec.Status = record.RequestOK
	if dec.ServedBy == "" {
		rec.Status = record.RequestUnavailable
	}
	return rec
}

// entityOf reads the schema's entity field from a validated input ("" when
// there is none).
func (d *Deployment) entityOf(in schema.Input) string {
	if d.EntityField == "" || in == nil {
		return ""
	}
	s, _ := EntityString(in[d.EntityField])
	return s
}

// EntityString renders an entity id sent as a JSON string or number.
func EntityString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

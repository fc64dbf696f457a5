package record

import (
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Summary is the part of a Record that analytics reads (metrics, challenger
// comparison, drift): a projection without features, raw body, problems,
// artifacts, labels words or errors. Stores may keep it in a compact form
// beside the full record (see store.SummaryScanner); Summarize derives it
// from a full record, and both must give equal summaries.
type Summary struct {
	ID         string
	ReceivedAt time.Time
	Status     string
	// ServedBy and DecisionReason are Decision.ServedBy and Decision.Reason
	// ("" without a decision).
	ServedBy       string
	DecisionReason string
	// Input is the validated input; nil when the record has none, and also
	// nil when the scan did not ask for inputs.
	Input schema.Input
	// Models are the model results, sorted by name.
	Models []ModelSummary
}

// ModelSummary is the part of a ModelResult analytics reads.
type ModelSummary struct {
	Name        string
	Role        model.Role
	Version     string
	Status      Status
	Prediction  *int
	Probability *float64
	LatencyUS   int64
}

// Summarize sets dst to the summary of rec, reusing dst's Models slice.
// With inputs false, dst.Input is nil. dst shares rec's Input map and
// Prediction and Probability pointers.
func Summarize(rec *Record, dst *Summary, inputs bool) {
	models := dst.Models[:0]
	*dst = Summary{ID: rec.ID, ReceivedAt: rec.ReceivedAt, Status: rec.Status}
	if rec.Decision != nil {
		dst.ServedBy, dst.DecisionReason = rec.Decision.ServedBy, rec.Decision.Reason
	}
	if inputs {
		dst.Input = rec.Input
	}
	for name, r := range rec.Models {
		models = append(models, ModelSummary{
			Name: name, Role: r.Role, Version: r.Version, Status: r.Status,
			Prediction: r.Prediction, Probability: r.Probability, LatencyUS: r.LatencyUS,
		})
	}
	// Few models: insertion sort by name, no allocation.
	for i := 1; i < len(models); i++ {
		for j := i; j > 0 && models[j].Name < models[j-1].Name; j-- {
			models[j], models[j-1] = models[j-1], models[j]
		}
	}
	dst.Models = models
}

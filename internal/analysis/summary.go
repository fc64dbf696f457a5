package analysis

import (
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// AddSummary accumulates one record summary (a store's lean projection of
// a record, see store.SummaryScanner) exactly as Add accumulates the record
// it summarizes. A nil summary is ignored.
func (a *MetricsAccumulator) AddSummary(s *record.Summary, label *int) {
	if s == nil {
		return
	}
	if label != nil && *label != 0 && *label != 1 {
		label = nil
	}
	var buf [8]modelEntry
	entries := buf[:0]
	prodIdx := -1
	for i := range s.Models {
		r := &s.Models[i]
		entries = append(entries, modelEntry{name: r.Name, res: modelFields{
			role: r.Role, version: r.Version, status: r.Status,
			prediction: r.Prediction, probability: r.Probability, latencyUS: r.LatencyUS,
			served: r.Name == s.ServedBy,
		}})
		if r.Role == model.RoleProduction && (prodIdx < 0 || r.Name < entries[prodIdx].name) {
			prodIdx = len(entries) - 1
		}
	}
	a.addEntries(s.ReceivedAt, entries, prodIdx, label, s.DecisionReason == "fallback")
}

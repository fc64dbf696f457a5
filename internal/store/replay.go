package store

import (
	"context"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// ReplayRole is the role of a replay result's model: a candidate scored
// after the fact on an archived input (`rendezvous replay`), never live.
const ReplayRole = "replay"

// ReplayResult is one candidate model's answer to one archived request,
// computed by `rendezvous replay` after the request was served. It is
// stored beside the request's record, never inside it: a replay never
// changes what production answered or what the record says.
//
// A result is identified by (RequestID, Candidate, Version): writing the
// same key again is a no-op, so a rerun of a replay writes nothing new.
type ReplayResult struct {
	// RequestID is the record's ID; ReceivedAt is the record's ReceivedAt
	// (stored form, record.Timestamp), so results scan in record order.
	RequestID  string    `json:"request_id"`
	ReceivedAt time.Time `json:"received_at"`
	// Candidate is the model's name; Version and Artifact identify the
	// version that was replayed (Result carries them too).
	Candidate string `json:"candidate"`
	Version   string `json:"version"`
	// Result is the candidate's answer as a live record would hold it:
	// Role is ReplayRole; Features, Prediction, Label, Probability,
	// LatencyUS, Status and Error as the gateway's record builder sets them.
	Result record.ModelResult `json:"result"`
	// ReplayedAt is when the replay scored the input (stored form).
	ReplayedAt time.Time `json:"replayed_at"`
}

// ReplayScanParams selects the replay results of one candidate.
type ReplayScanParams struct {
	// Candidate is required. Version, when set, keeps only that version.
	Candidate string
	Version   string
	// Since is inclusive, Until exclusive, on the request's ReceivedAt.
	Since, Until time.Time
}

// ReplayStore stores replay results: an optional capability of a Store
// (assert it on the store; every backend of this repository implements it
// and the contract suite storetest covers it).
type ReplayStore interface {
	// WriteReplayResults stores rs in one transaction (or the backend's
	// nearest equivalent), idempotently by (RequestID, Candidate,
	// Version): a result whose key is stored already, or that appeared
	// earlier in rs, is left as it is. It returns how many results were
	// new. Times are kept to the microsecond.
	WriteReplayResults(ctx context.Context, rs []ReplayResult) (int, error)
	// ScanReplayResults calls fn for each stored result p selects, in
	// (ReceivedAt, RequestID, Version) order. The result is only valid
	// until fn returns.
	ScanReplayResults(ctx context.Context, p ReplayScanParams, fn func(r *ReplayResult) error) error
	// ReplayVersions lists the versions candidate's stored results have:
	// how many results each and when the last was replayed, the version
	// replayed last first (ties by version).
	ReplayVersions(ctx context.Context, candidate string) ([]ReplayVersion, error)
}

// ReplayVersion is one replayed version of a candidate.
type ReplayVersion struct {
	Version      string
	Results      int64
	LastReplayed time.Time
}

// ReplayKey is the identity of a replay result.
func ReplayKey(r *ReplayResult) [3]string {
	return [3]string{r.RequestID, r.Candidate, r.Version}
}

// UniqueReplay returns rs without the results whose key appeared earlier in
// rs (the first wins), in order. It returns rs itself when there is no
// duplicate.
func UniqueReplay(rs []ReplayResult) []ReplayResult {
	seen := make(map[[3]string]struct{}, len(rs))
	var out []ReplayResult
	for i := range rs {
		k := ReplayKey(&rs[i])
		if _, dup := seen[k]; dup {
			if out == nil {
				out = append(make([]ReplayResult, 0, len(rs)), rs[:i]...)
			}
			continue
		}
		seen[k] = struct{}{}
		if out != nil {
			out = append(out, rs[i])
		}
	}
	if out == nil {
		return rs
	}
	return out
}

package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/docjson"
)

var _ store.ReplayStore = (*Store)(nil)

// ReplaySuffix is appended to the records collection's name to name the
// collection of replay results ("records_replay" by default).
const ReplaySuffix = "_replay"

// Fields of a replay result document. _id is the JSON array
// [candidate, version, request_id] (unique, and free of U+0000, which
// FerretDB on PostgreSQL refuses); result is the model result's JSON text,
// as under "models" in a record, so the features keep their order.
const (
	fCandidate  = "candidate"
	fVersion    = "version"
	fReplayedUS = "replayed_us"
	fResult     = "result"
)

var replayIndexes = []mongo.IndexModel{
	{Keys: bson.D{{Key: fCandidate, Value: 1}, {Key: fReceivedUS, Value: 1}, {Key: fRequestID, Value: 1}}},
}

// WriteReplayResults inserts rs with one unordered InsertMany; a result
// whose key is stored already is a duplicate _id, skipped. It returns how
// many documents were inserted.
func (s *Store) WriteReplayResults(ctx context.Context, rs []store.ReplayResult) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("write replay results: %w", err)
	}
	rs = store.UniqueReplay(rs)
	if len(rs) == 0 {
		return 0, nil
	}
	docs := make([]any, len(rs))
	var buf []byte
	for i := range rs {
		r := &rs[i]
		key, err := json.Marshal([]string{r.Candidate, r.Version, r.RequestID})
		if err != nil {
			return 0, fmt.Errorf("write replay results: key of %q: %w", r.RequestID, err)
		}
		if buf, err = docjson.AppendModelResult(buf[:0], &r.Result); err != nil {
			return 0, fmt.Errorf("write replay results: encode %q: %w", r.RequestID, err)
		}
		docs[i] = bson.D{
			{Key: fID, Value: string(key)},
			{Key: fCandidate, Value: r.Candidate},
			{Key: fVersion, Value: r.Version},
			{Key: fRequestID, Value: r.RequestID},
			{Key: fReceivedUS, Value: record.Timestamp(r.ReceivedAt).UnixMicro()},
			{Key: fReplayedUS, Value: record.Timestamp(r.ReplayedAt).UnixMicro()},
			{Key: fResult, Value: string(buf)},
		}
	}
	_, err := s.replay.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return len(docs), nil
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		dups := 0
		for _, we := range bwe.WriteErrors {
			if slices.Contains(duplicateKeyCodes, we.Code) {
				dups++
			}
		}
		if ignoreDuplicates(err) == nil {
			return len(docs) - dups, nil
		}
	}
	return 0, fmt.Errorf("write replay results: insert %d into %s: %w", len(docs), s.replay.Name(), ignoreDuplicates(err))
}

// ReplayVersions lists candidate's replayed versions, the one replayed
// last first: the distinct versions, then each one's count and latest
// replayed_us (FerretDB v1 has no $group we can rely on).
func (s *Store) ReplayVersions(ctx context.Context, candidate string) ([]store.ReplayVersion, error) {
	res := s.replay.Distinct(ctx, fVersion, bson.D{{Key: fCandidate, Value: candidate}})
	var versions []string
	if err := res.Decode(&versions); err != nil {
		return nil, fmt.Errorf("replay versions of %q: %w", candidate, err)
	}
	var out []store.ReplayVersion
	for _, v := range versions {
		filter := bson.D{{Key: fCandidate, Value: candidate}, {Key: fVersion, Value: v}}
		n, err := s.replay.CountDocuments(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("replay versions of %q: %w", candidate, err)
		}
		var last struct {
			ReplayedUS int64 `bson:"replayed_us"`
		}
		err = s.replay.FindOne(ctx, filter, options.FindOne().SetSort(bson.D{{Key: fReplayedUS, Value: -1}})).Decode(&last)
		if err != nil {
			return nil, fmt.Errorf("replay versions of %q: %w", candidate, err)
		}
		out = append(out, store.ReplayVersion{Version: v, Results: n, LastReplayed: time.UnixMicro(last.ReplayedUS).UTC()})
	}
	slices.SortFunc(out, func(a, b store.ReplayVersion) int {
		if c := b.LastReplayed.Compare(a.LastReplayed); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out, nil
}

// ScanReplayResults calls fn for each replay result p selects, in
// (ReceivedAt, RequestID, Version) order.
func (s *Store) ScanReplayResults(ctx context.Context, p store.ReplayScanParams, fn func(r *store.ReplayResult) error) error {
	filter := bson.D{{Key: fCandidate, Value: p.Candidate}}
	if p.Version != "" {
		filter = append(filter, bson.E{Key: fVersion, Value: p.Version})
	}
	if cond := rangeFilter(p.Since, p.Until); len(cond) > 0 {
		filter = append(filter, bson.E{Key: fReceivedUS, Value: cond})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: fReceivedUS, Value: 1}, {Key: fRequestID, Value: 1}, {Key: fVersion, Value: 1}}).
		SetBatchSize(scanBatch)
	var dec docjson.Decoder
	err := s.scan(ctx, s.replay, filter, opts, func(doc bsoncore.Document) error {
		r, err := decodeReplay(doc, &dec)
		if err != nil {
			return err
		}
		return fn(&r)
	})
	if err != nil {
		return fmt.Errorf("scan replay results: %w", err)
	}
	return nil
}

func decodeReplay(doc bsoncore.Document, dec *docjson.Decoder) (store.ReplayResult, error) {
	var d struct {
		Candidate  string `bson:"candidate"`
		Version    string `bson:"version"`
		RequestID  string `bson:"request_id"`
		ReceivedUS int64  `bson:"received_us"`
		ReplayedUS int64  `bson:"replayed_us"`
		Result     string `bson:"result"`
	}
	if err := bson.Unmarshal(doc, &d); err != nil {
		return store.ReplayResult{}, fmt.Errorf("decode replay result: %w", err)
	}
	r := store.ReplayResult{
		RequestID: d.RequestID, Candidate: d.Candidate, Version: d.Version,
		ReceivedAt: time.UnixMicro(d.ReceivedUS).UTC(), ReplayedAt: time.UnixMicro(d.ReplayedUS).UTC(),
	}
	if err := dec.DecodeModelResult([]byte(d.Result), &r.Result, d.Candidate); err != nil {
		return store.ReplayResult{}, fmt.Errorf("decode replay result %q: %w", d.RequestID, err)
	}
	return r, nil
}

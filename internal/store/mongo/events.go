package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/rendezvous-gw/rendezvous/internal/store"
)

var _ store.EventLog = (*Store)(nil)

// maxSeqRaces bounds AppendEvent's retries when another writer took the
// same sequence number first.
const maxSeqRaces = 100

// eventDoc is one deployment event as stored (see the package doc).
type eventDoc struct {
	Seq  int64     `bson:"_id"`
	At   time.Time `bson:"at"`
	AtUS int64     `bson:"at_us"`
	Kind string    `bson:"kind"`
	Doc  string    `bson:"doc"`
}

// AppendEvent stores ev with the next sequence number: one more than the
// largest _id stored, inserted; a duplicate key (a concurrent append took
// it) reads the maximum again and retries. Only a find and an insert, so it
// runs on FerretDB too.
func (s *Store) AppendEvent(ctx context.Context, ev store.DeploymentEvent) (store.DeploymentEvent, error) {
	if err := ctx.Err(); err != nil {
		return ev, fmt.Errorf("append deployment event: %w", err)
	}
	ev, doc, err := store.EncodeEvent(ev)
	if err != nil {
		return ev, fmt.Errorf("append deployment event: %w", err)
	}
	for range maxSeqRaces {
		last, err := s.lastEventSeq(ctx)
		if err != nil {
			return ev, fmt.Errorf("append deployment event %s: %w", ev.Kind, err)
		}
		d := eventDoc{Seq: last + 1, At: ev.Time, AtUS: ev.Time.UnixMicro(), Kind: ev.Kind, Doc: string(doc)}
		_, err = s.events.InsertOne(ctx, d)
		if err == nil {
			ev.Seq = d.Seq
			return ev, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return ev, fmt.Errorf("append deployment event %s: insert into %s: %w", ev.Kind, s.events.Name(), err)
		}
	}
	return ev, fmt.Errorf("append deployment event %s: %d concurrent appends took every sequence number tried", ev.Kind, maxSeqRaces)
}

// lastEventSeq is the largest stored _id (0 when there is none).
func (s *Store) lastEventSeq(ctx context.Context) (int64, error) {
	var d struct {
		Seq int64 `bson:"_id"`
	}
	err := s.events.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}}).
		SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the last sequence number of %s: %w", s.events.Name(), err)
	}
	return d.Seq, nil
}

// ListEvents returns the stored events oldest first; limit > 0 keeps the
// newest limit of them.
func (s *Store) ListEvents(ctx context.Context, limit int) ([]store.DeploymentEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list deployment events: %w", err)
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: -1}})
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	cur, err := s.events.Find(ctx, bson.D{}, opts)
	if err != nil {
		return nil, fmt.Errorf("list deployment events: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := []store.DeploymentEvent{}
	for cur.Next(ctx) {
		var d eventDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("list deployment events: %w", err)
		}
		ev, err := store.DecodeEvent(d.Seq, time.UnixMicro(d.AtUS), []byte(d.Doc))
		if err != nil {
			return nil, fmt.Errorf("list deployment events: %w", err)
		}
		out = append(out, ev)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("list deployment events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

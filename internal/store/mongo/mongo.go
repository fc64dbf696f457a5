// Package mongo is the MongoDB record store, written with the official driver
// go.mongodb.org/mongo-driver/v2. It speaks only plain inserts, finds by _id,
// equality and range, and index creation, so it runs unchanged against
// MongoDB and against FerretDB v1 (whose aggregation support is limited):
// nothing is computed on the server.
//
// # URL
//
//	mongodb://user:password@db1.example.com:27017/rendezvous?authSource=admin
//	mongodb+srv://user:password@cluster0.example.net/rendezvous?records=records&feedback=feedback
//
// The path names the database (default "rendezvous"). Three query
// parameters belong to this store and are removed before the URL reaches
// the driver: records, feedback and events name the three collections
// (defaults "records", "feedback" and "deployment_events"), and connect_timeout (a Go duration, default
// 10s) bounds Open's connect and ping. Every other parameter is the driver's
// (authSource, replicaSet, tls, w, serverSelectionTimeoutMS, …). Errors name
// the URL with its password redacted.
//
// # Layout
//
// One document per request in the record's JSON shape, models as keys:
//
//	{_id: "<request id>", received_at: ISODate(…), received_us: Long(…),
//	 endpoint, entity_id, input: {…}, raw, status, problems: [{field, problem}],
//	 models: {"<model>": {role, version, artifact, features: {…}, prediction,
//	                      label, probability, latency_us, status, error}},
//	 decision: {served_by, reason, deadline_ms, latency_us}}
//
// received_at is a BSON date, which holds milliseconds; received_us holds the
// same instant in microseconds since the Unix epoch (the store's precision,
// see store.Timestamp) and is what scans filter and sort on. Empty optional
// fields are left out. features keep the pipeline's order. Model, input and
// feature names containing ".", "%" or U+0000, or starting with "$", are
// stored percent-escaped ("." as "%2E"), because FerretDB refuses such keys.
// Non-finite numbers are stored as the strings "NaN", "Infinity" and
// "-Infinity". Strings are stored as valid UTF-8.
//
// Feedback documents live in their own collection and are only ever inserted:
//
//	{_id: ObjectId(…), request_id, entity_id, label, received_at, received_us, seq: Long(…)}
//
// seq is strictly increasing within a process (wall-clock nanoseconds, bumped
// past the previous value) and orders rows with the same received_us.
//
// Deployment events (store.EventLog) are only ever inserted, one document
// each, with the store-assigned sequence number as _id:
//
//	{_id: Long(seq), at: ISODate(…), at_us: Long(…), kind, doc: "<the event as JSON>"}
//
// doc is JSON text, not a sub-document, so the event's strings (U+0000
// included) and its gate figures round-trip exactly on FerretDB too.
//
// Replay results (store.ReplayStore) live in the records collection's name
// followed by "_replay" ("records_replay"), one document per (candidate,
// version, request):
//
//	{_id: "[\"<candidate>\",\"<version>\",\"<request id>\"]", candidate, version,
//	 request_id, received_us: Long(…), replayed_us: Long(…), result: "<JSON text>"}
//
// result is the model result's JSON (as under "models" in a record's JSON
// form) kept as text, so features keep their order.
//
// Open creates the indexes when missing: records on {received_us: 1, _id: 1},
// {entity_id: 1, received_us: 1} and {received_at: 1}; feedback on
// {received_us: 1, seq: 1} and {request_id: 1}.
//
// # Writes
//
// WriteRecords sends one InsertMany with ordered=false. A duplicate-key error
// (code 11000) means the record is already stored and is not an error, so a
// retried batch never duplicates; any other write error fails the call
// (the other documents of the batch may have been written, and a retry skips
// them).
//
// # Concurrency
//
// A Store is safe for concurrent use; the driver pools connections.
package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// The URL schemes of this backend.
const (
	Scheme    = "mongodb"
	SchemeSRV = "mongodb+srv"
)

// Defaults for what the URL leaves out.
const (
	DefaultDatabase       = "rendezvous"
	DefaultRecords        = "records"
	DefaultFeedback       = "feedback"
	DefaultEvents         = "deployment_events"
	DefaultConnectTimeout = 10 * time.Second
)

// matchChunk bounds the ids sent in one $in list.
const matchChunk = 1000

// scanBatch is the cursor batch size of scans.
const scanBatch = 1000

// closeTimeout bounds Close and the clean-up of cursors after a cancel.
const closeTimeout = 5 * time.Second

// Codes of duplicate-key write errors (MongoDB, mongos, capped collections).
var duplicateKeyCodes = []int{11000, 11001, 12582}

// Config is a parsed mongodb store URL.
type Config struct {
	// URI is the connection string handed to the driver: the store URL
	// without this store's own query parameters.
	URI string
	// Database, Records, Feedback and Events name the database and the
	// collections.
	Database, Records, Feedback, Events string
	// ConnectTimeout bounds Open's connect and ping.
	ConnectTimeout time.Duration
}

// ParseURL parses a mongodb:// or mongodb+srv:// store URL (see the package
// doc). Errors name the URL with its password redacted. The driver
// validates the rest of the connection string when Open connects.
func ParseURL(rawURL string) (Config, error) {
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("parse mongodb URL %s: %s", store.RedactURL(rawURL), fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || (!strings.EqualFold(scheme, Scheme) && !strings.EqualFold(scheme, SchemeSRV)) {
		return fail("scheme must be %s:// or %s://", Scheme, SchemeSRV)
	}
	cfg := Config{Database: DefaultDatabase, Records: DefaultRecords, Feedback: DefaultFeedback, Events: DefaultEvents, ConnectTimeout: DefaultConnectTimeout}
	authority, pathQuery := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, pathQuery = rest[:i], rest[i:]
	} else if strings.Contains(rest, "?") {
		return fail(`a "/" must separate the hosts from the options`)
	}
	if authority == "" || strings.HasSuffix(authority, "@") {
		return fail("no host")
	}
	path, query, _ := strings.Cut(pathQuery, "?")
	if db := strings.TrimPrefix(path, "/"); db != "" {
		name, err := url.PathUnescape(db)
		if err != nil {
			return fail("database: %v", err)
		}
		if err := checkDatabaseName(name); err != nil {
			return fail("database %q: %v", name, err)
		}
		cfg.Database = name
	}
	var kept []string
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key := strings.ToLower(k)
		if key != "records" && key != "feedback" && key != "events" && key != "connect_timeout" {
			kept = append(kept, part) // the driver's: passed on untouched
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return fail("query parameter %s: %v", key, err)
		}
		switch key {
		case "records", "feedback", "events":
			if err := checkCollectionName(val); err != nil {
				return fail("%s collection %q: %v", key, val, err)
			}
			switch key {
			case "records":
				cfg.Records = val
			case "feedback":
				cfg.Feedback = val
			default:
				cfg.Events = val
			}
		case "connect_timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return fail("connect_timeout %q: want a positive duration such as 5s", val)
			}
			cfg.ConnectTimeout = d
		}
	}
	if cfg.Records == cfg.Feedback {
		return fail("records and feedback collections are both %q", cfg.Records)
	}
	if cfg.Events == cfg.Records || cfg.Events == cfg.Feedback || cfg.Events == cfg.Records+ReplaySuffix {
		return fail("the events collection %q is also the records, feedback or replay collection", cfg.Events)
	}
	if cfg.Feedback == cfg.Records+ReplaySuffix {
		return fail("feedback collection %q is where the replay results of records %q go", cfg.Feedback, cfg.Records)
	}
	cfg.URI = strings.ToLower(scheme) + "://" + authority + path
	if len(kept) > 0 {
		if path == "" {
			cfg.URI += "/"
		}
		cfg.URI += "?" + strings.Join(kept, "&")
	}
	return cfg, nil
}

func checkDatabaseName(name string) error {
	if len(name) > 63 {
		return errors.New("longer than 63 bytes")
	}
	if i := strings.IndexAny(name, "/\\. \"$*<>:|?\x00"); i >= 0 {
		return fmt.Errorf("must not contain %q", name[i])
	}
	return nil
}

func checkCollectionName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case strings.ContainsAny(name, "$\x00"):
		return errors.New(`must not contain "$" or NUL`)
	case strings.HasPrefix(name, "system."):
		return errors.New(`must not start with "system."`)
	}
	return nil
}

// Store is a record store in a MongoDB (or FerretDB) database. See the
// package doc.
type Store struct {
	client   *mongo.Client
	records  *mongo.Collection
	feedback *mongo.Collection
	events   *mongo.Collection
	replay   *mongo.Collection // replay results: the records collection's name + ReplaySuffix
	redacted string            // the URL with its password redacted, for errors

	seqMu   sync.Mutex
	lastSeq int64
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by rawURL, pings it and creates the
// indexes, all within the URL's connect_timeout (and ctx). On failure it
// returns an error naming the URL with the password redacted.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open mongodb store: %w", err)
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with an already parsed URL.
func OpenConfig(ctx context.Context, cfg Config) (*Store, error) {
	redacted := store.RedactURL(cfg.URI)
	fail := func(what string, err error) (*Store, error) {
		return nil, fmt.Errorf("open mongodb store %s: %s: %w", redacted, what, err)
	}
	timeout := cmp.Or(cfg.ConnectTimeout, DefaultConnectTimeout)
	opts := options.Client().ApplyURI(cfg.URI)
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(timeout)
	}
	if opts.ConnectTimeout == nil {
		opts.SetConnectTimeout(timeout)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return fail("connect", err)
	}
	// The error names the bound that applies: ctx's deadline when it is the
	// earlier one (serve passes its own connect timeout).
	bound := timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < bound {
		bound = max(time.Until(d), 0).Round(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &Store{
		client:   client,
		records:  client.Database(cfg.Database).Collection(cfg.Records),
		feedback: client.Database(cfg.Database).Collection(cfg.Feedback),
		events:   client.Database(cfg.Database).Collection(cmp.Or(cfg.Events, DefaultEvents)),
		replay:   client.Database(cfg.Database).Collection(cfg.Records + ReplaySuffix),
		redacted: redacted,
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		s.Close()
		return fail(fmt.Sprintf("ping (timeout %s)", bound), err)
	}
	if err := s.createIndexes(ctx); err != nil {
		s.Close()
		return fail("create indexes", err)
	}
	return s, nil
}

func (s *Store) createIndexes(ctx context.Context) error {
	recIdx := []mongo.IndexModel{
		{Keys: bson.D{{Key: fReceivedUS, Value: 1}, {Key: fID, Value: 1}}},
		{Keys: bson.D{{Key: fEntityID, Value: 1}, {Key: fReceivedUS, Value: 1}}},
		{Keys: bson.D{{Key: fReceivedAt, Value: 1}}},
	}
	if err := ensureIndexes(ctx, s.records, recIdx); err != nil {
		return fmt.Errorf("collection %s: %w", s.records.Name(), err)
	}
	fbIdx := []mongo.IndexModel{
		{Keys: bson.D{{Key: fReceivedUS, Value: 1}, {Key: fSeq, Value: 1}}},
		{Keys: bson.D{{Key: fRequestID, Value: 1}}},
	}
	if err := ensureIndexes(ctx, s.feedback, fbIdx); err != nil {
		return fmt.Errorf("collection %s: %w", s.feedback.Name(), err)
	}
	if err := ensureIndexes(ctx, s.replay, replayIndexes); err != nil {
		return fmt.Errorf("collection %s: %w", s.replay.Name(), err)
	}
	return nil
}

// ensureIndexes creates the indexes of want that the collection lacks, by
// name (MongoDB's default name, e.g. "received_us_1__id_1"). Creating an
// index that exists is a no-op on MongoDB, but FerretDB v1 (SQLite backend)
// drops the connection instead, so a store reopened on existing data would
// fail to start: only missing indexes are created.
func ensureIndexes(ctx context.Context, c *mongo.Collection, want []mongo.IndexModel) error {
	specs, err := c.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("list indexes: %w", err)
	}
	have := map[string]bool{}
	for _, sp := range specs {
		have[sp.Name] = true
	}
	var missing []mongo.IndexModel
	for _, m := range want {
		name := indexName(m.Keys.(bson.D))
		if !have[name] {
			missing = append(missing, mongo.IndexModel{Keys: m.Keys, Options: options.Index().SetName(name)})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := c.Indexes().CreateMany(ctx, missing); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	return nil
}

// indexName is MongoDB's default index name: key_direction pairs joined by
// underscores.
func indexName(keys bson.D) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('_')
		}
		fmt.Fprintf(&b, "%s_%v", k.Key, k.Value)
	}
	return b.String()
}

// Close disconnects from the server. It does not flush anything.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("close mongodb store %s: %w", s.redacted, err)
	}
	return nil
}

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping mongodb store %s: %w", s.redacted, err)
	}
	return nil
}

// outageCodes are MongoDB error codes that say the server is not serving
// writes (host unreachable or not found, network timeout, shutting down,
// not the primary, stepping down, socket error) rather than refusing them.
var outageCodes = []int{6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436}

var _ record.OutageClassifier = (*Store)(nil)

// Unavailable reports whether err, from one of the store's writes, says
// MongoDB was not serving rather than refusing the documents: a network
// error or timeout, no server selectable, an error labelled retryable, or
// one of outageCodes. It makes the store a record.OutageClassifier.
func (s *Store) Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return true
	}
	if _, ok := errors.AsType[topology.ServerSelectionError](err); ok {
		return true
	}
	if le, ok := errors.AsType[mongo.LabeledError](err); ok &&
		(le.HasErrorLabel("RetryableWriteError") || le.HasErrorLabel("TransientTransactionError")) {
		return true
	}
	if se, ok := errors.AsType[mongo.ServerError](err); ok {
		return slices.ContainsFunc(outageCodes, se.HasErrorCode)
	}
	return false
}

// WriteRecords inserts the batch with one unordered InsertMany. Records
// whose _id is already stored are left as they are; within the batch the
// first record of an ID wins.
func (s *Store) WriteRecords(ctx context.Context, recs []record.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	recs = record.UniqueByID(recs)
	docs := make([]any, len(recs))
	// One buffer for the whole batch: documents are sub-slices of it.
	buf := make([]byte, 0, 1500*len(recs))
	for i := range recs {
		start := len(buf)
		var err error
		buf, err = encodeRecord(buf, &recs[i])
		if err != nil {
			return fmt.Errorf("write records: encode record %q: %w", recs[i].ID, err)
		}
		docs[i] = bson.Raw(buf[start:len(buf):len(buf)])
	}
	_, err := s.records.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err = ignoreDuplicates(err); err != nil {
		return fmt.Errorf("write records: insert %d records into %s: %w", len(docs), s.records.Name(), err)
	}
	return nil
}

// ignoreDuplicates returns nil when every write error of err is a duplicate
// key, and err otherwise.
func ignoreDuplicates(err error) error {
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return err
	}
	for _, we := range bwe.WriteErrors {
		if !slices.Contains(duplicateKeyCodes, we.Code) {
			return fmt.Errorf("%d of the documents failed, first (index %d, code %d): %s",
				countNonDuplicates(bwe.WriteErrors), we.Index, we.Code, we.Message)
		}
	}
	return nil
}

func countNonDuplicates(wes []mongo.BulkWriteError) int {
	n := 0
	for _, we := range wes {
		if !slices.Contains(duplicateKeyCodes, we.Code) {
			n++
		}
	}
	return n
}

// GetRecord returns the record with that id, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, id string) (record.Record, error) {
	raw, err := s.records.FindOne(ctx, bson.D{{Key: fID, Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return record.Record{}, fmt.Errorf("get record %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return record.Record{}, fmt.Errorf("get record %q: %w", id, err)
	}
	var rec record.Record
	if err := decodeRecord(bsoncore.Document(raw), &rec); err != nil {
		return record.Record{}, fmt.Errorf("get record: %w", err)
	}
	return rec, nil
}

// microsCeil returns the smallest whole microsecond since the Unix epoch
// that is not before t: a stored (truncated) time is at or after t exactly
// when its received_us is at least microsCeil(t).
func microsCeil(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// rangeFilter returns the received_us condition for [since, until).
func rangeFilter(since, until time.Time) bson.D {
	var cond bson.D
	if !since.IsZero() {
		cond = append(cond, bson.E{Key: "$gte", Value: microsCeil(since)})
	}
	if !until.IsZero() {
		cond = append(cond, bson.E{Key: "$lt", Value: microsCeil(until)})
	}
	return cond
}

// ScanRecords calls fn for each matching record in received_us order (_id
// for ties). The sort is the server's: MongoDB uses the index, FerretDB v1
// sorts the matching documents in memory.
func (s *Store) ScanRecords(ctx context.Context, p store.ScanParams, fn func(rec *record.Record) error) error {
	filter := bson.D{}
	if cond := rangeFilter(p.Since, p.Until); len(cond) > 0 {
		filter = append(filter, bson.E{Key: fReceivedUS, Value: cond})
	}
	if p.EntityID != "" {
		filter = append(filter, bson.E{Key: fEntityID, Value: p.EntityID})
	}
	if p.Status != "" {
		filter = append(filter, bson.E{Key: fStatus, Value: p.Status})
	}
	dir := 1
	if p.Descending {
		dir = -1
	}
	if !p.After.IsZero() {
		filter = append(filter, afterFilter(p.After, p.Descending))
	}
	opts := options.Find().
		SetSort(bson.D{{Key: fReceivedUS, Value: dir}, {Key: fID, Value: dir}}).
		SetBatchSize(scanBatch)
	if p.Limit > 0 {
		opts.SetLimit(int64(p.Limit))
	}
	err := s.scan(ctx, s.records, filter, opts, func(doc bsoncore.Document) error {
		var rec record.Record
		if err := decodeRecord(doc, &rec); err != nil {
			return err
		}
		return fn(&rec)
	})
	if err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	return nil
}

// afterFilter is the condition "key after c in the scan's order":
// received_us past c's, or equal with _id past c's (string _ids compare in
// byte order).
func afterFilter(c store.Cursor, descending bool) bson.E {
	us := record.Timestamp(c.ReceivedAt).UnixMicro()
	op := "$gt"
	if descending {
		op = "$lt"
	}
	return bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: fReceivedUS, Value: bson.D{{Key: op, Value: us}}}},
		bson.D{{Key: fReceivedUS, Value: us}, {Key: fID, Value: bson.D{{Key: op, Value: c.ID}}}},
	}}
}

// scan runs a find and calls fn for each document; it checks ctx before
// each call, so a cancel stops the scan even inside a fetched batch.
func (s *Store) scan(ctx context.Context, coll *mongo.Collection, filter any, opts *options.FindOptionsBuilder, fn func(doc bsoncore.Document) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return err
	}
	defer func() {
		// The cursor is killed even when ctx is already cancelled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = cur.Close(cctx)
	}()
	for cur.Next(ctx) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(bsoncore.Document(cur.Current)); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

// WriteFeedback inserts the labels; it never modifies records. It is
// idempotent by Feedback.ID (the document's _id): a row stored already is a
// duplicate key, ignored.
func (s *Store) WriteFeedback(ctx context.Context, fbs []record.Feedback) error {
	if len(fbs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write feedback: %w", err)
	}
	docs := make([]any, len(fbs))
	buf := make([]byte, 0, 160*len(fbs))
	for i := range fbs {
		start := len(buf)
		buf = encodeFeedback(buf, bson.NewObjectID(), s.nextSeq(), &fbs[i])
		docs[i] = bson.Raw(buf[start:len(buf):len(buf)])
	}
	// Unordered, so a duplicate does not stop the rows after it; readers
	// order rows by received_us and seq, assigned here in slice order.
	_, err := s.feedback.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err = ignoreDuplicates(err); err != nil {
		return fmt.Errorf("write feedback: insert %d rows into %s: %w", len(docs), s.feedback.Name(), err)
	}
	return nil
}

// nextSeq returns a strictly increasing sequence number close to the wall
// clock in nanoseconds.
func (s *Store) nextSeq() int64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	seq := time.Now().UnixNano()
	if seq <= s.lastSeq {
		seq = s.lastSeq + 1
	}
	s.lastSeq = seq
	return seq
}

// ScanFeedback calls fn for every feedback row in received_us order, then
// write order (seq).
func (s *Store) ScanFeedback(ctx context.Context, p store.FeedbackScanParams, fn func(fb record.Feedback) error) error {
	filter := bson.D{}
	if cond := rangeFilter(p.Since, p.Until); len(cond) > 0 {
		filter = append(filter, bson.E{Key: fReceivedUS, Value: cond})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: fReceivedUS, Value: 1}, {Key: fSeq, Value: 1}}).
		SetBatchSize(scanBatch)
	err := s.scan(ctx, s.feedback, filter, opts, func(doc bsoncore.Document) error {
		fb, err := decodeFeedback(doc)
		if err != nil {
			return err
		}
		return fn(fb)
	})
	if err != nil {
		return fmt.Errorf("scan feedback: %w", err)
	}
	return nil
}

// Match resolves request ids and entity ids with $in finds by _id and
// entity_id; an entity's requests are ordered here, not on the server.
func (s *Store) Match(ctx context.Context, p store.MatchParams) (store.MatchResult, error) {
	res := store.MatchResult{Requests: map[string]bool{}, Entities: map[string][]string{}}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("match: %w", err)
	}
	idOnly := options.Find().SetProjection(bson.D{{Key: fID, Value: 1}}).SetBatchSize(scanBatch)
	for chunk := range slices.Chunk(uniqueNonEmpty(p.RequestIDs), matchChunk) {
		err := s.scan(ctx, s.records, bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: chunk}}}}, idOnly,
			func(doc bsoncore.Document) error {
				id, ok := doc.Lookup(fID).StringValueOK()
				if !ok {
					return fmt.Errorf("%w: _id is not a string", errDecode)
				}
				res.Requests[id] = true
				return nil
			})
		if err != nil {
			return res, fmt.Errorf("match request ids: %w", err)
		}
	}
	type hit struct {
		id string
		us int64
	}
	hits := map[string][]hit{}
	entityOpts := options.Find().
		SetProjection(bson.D{{Key: fID, Value: 1}, {Key: fEntityID, Value: 1}, {Key: fReceivedUS, Value: 1}}).
		SetBatchSize(scanBatch)
	for chunk := range slices.Chunk(uniqueNonEmpty(p.EntityIDs), matchChunk) {
		err := s.scan(ctx, s.records, bson.D{{Key: fEntityID, Value: bson.D{{Key: "$in", Value: chunk}}}}, entityOpts,
			func(doc bsoncore.Document) error {
				id, ok1 := doc.Lookup(fID).StringValueOK()
				ent, ok2 := doc.Lookup(fEntityID).StringValueOK()
				us, err := integer(doc.Lookup(fReceivedUS))
				if !ok1 || !ok2 || err != nil {
					return fmt.Errorf("%w: record %q: _id, entity_id or received_us missing", errDecode, id)
				}
				hits[ent] = append(hits[ent], hit{id, us})
				return nil
			})
		if err != nil {
			return res, fmt.Errorf("match entity ids: %w", err)
		}
	}
	for ent, hs := range hits {
		slices.SortFunc(hs, func(a, b hit) int {
			return cmp.Or(cmp.Compare(a.us, b.us), strings.Compare(a.id, b.id))
		})
		ids := make([]string, len(hs))
		for i, h := range hs {
			ids[i] = h.id
		}
		res.Entities[ent] = ids
	}
	return res, nil
}

// uniqueNonEmpty returns ids without empty strings and repeats, sorted.
func uniqueNonEmpty(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

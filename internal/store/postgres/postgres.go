// Package postgres is the shared record store for several gateway replicas:
// PostgreSQL through pgx v5 (pgxpool).
//
// # URL
//
//	postgres://user:password@host:5432/dbname?schema=rendezvous&sslmode=disable
//	postgresql://…  (same)
//
// Every libpq/pgx parameter is accepted (sslmode, connect_timeout,
// pool_max_conns, application_name, …). One parameter is this package's own:
// schema=NAME puts the tables in that schema, created when missing, by
// setting the connections' search_path to it (NAME: lower-case letters,
// digits and _, not starting with a digit or pg_). Without it the tables go
// to the first schema of the server's search_path (usually public).
// connect_timeout defaults to 10 seconds: a server unreachable at start
// fails Open within it, with the URL (password redacted) in the error.
// Credentials come only from the URL or the libpq environment (PGPASSWORD,
// ~/.pgpass); they are never logged.
//
// # Layout
//
//	records(id text PRIMARY KEY, received_at timestamptz, entity_id text, status text,
//	        doc jsonb, feature_order json, doc_exact json)
//	feedback(seq bigint identity PRIMARY KEY, request_id text, entity_id text, label integer, received_at timestamptz)
//	schema_migrations(version integer PRIMARY KEY, name text, applied_at timestamptz)
//	deployment_events(seq bigint identity PRIMARY KEY, at timestamptz, kind text, doc json)
//
// doc is the whole record (the record.Record JSON shape, so
// doc->'models'->'prod-gbt'->>'prediction' works). jsonb keeps neither object
// key order nor U+0000, so two side columns make the round trip exact:
// feature_order lists, for each model whose features jsonb would reorder,
// the feature names in pipeline order; doc_exact holds the exact JSON text
// of the rare record jsonb cannot hold (a string containing U+0000 — doc then
// has U+FFFD in its place — or repeated feature names). Text columns use
// the "C" collation so ties on received_at order by id bytewise, like every
// other backend. Indexes: records (received_at, id), (entity_id,
// received_at, id), (status, received_at, id); feedback (received_at, seq),
// request_id. In the text columns (and so in filters) U+0000 and invalid
// UTF-8 become U+FFFD, which PostgreSQL text cannot hold.
//
// # Writes
//
// A WriteRecords batch is one COPY into records (binary format, one
// statement, so one transaction). When it fails with unique_violation — a
// retried batch, some of whose ids are stored already — the batch is written
// again as one INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT (id)
// DO NOTHING. COPY costs the server about a quarter less CPU per record than
// the INSERT (measured; see BENCHMARKS.md).
package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/docjson"
)

// DefaultConnectTimeout bounds each connection attempt when the URL (or
// PGCONNECT_TIMEOUT) sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// schemaRE is the accepted form of the schema parameter.
var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Store is a record store in a PostgreSQL database. It is safe for
// concurrent use. See the package doc.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	url    string // redacted
}

var _ store.Store = (*Store)(nil)

// Open connects to the database a postgres:// or postgresql:// URL names,
// creates the schema when the URL names one, and applies pending
// migrations. An unreachable server fails within the connect timeout (or
// ctx's deadline, if sooner) with an error naming the URL, password
// redacted.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return open(ctx, rawURL, len(migrations))
}

func open(ctx context.Context, rawURL string, upTo int) (*Store, error) {
	redacted := store.RedactURL(rawURL)
	cfg, schema, err := parseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", redacted, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", redacted, err)
	}
	// The bound that applies: connect_timeout, or ctx's deadline if sooner.
	timeout, bound := cfg.ConnConfig.ConnectTimeout, "connect_timeout"
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout, bound = time.Until(dl).Round(100*time.Millisecond), "deadline"
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s: connect (%s %s): %w", redacted, bound, timeout, err)
	}
	if err := migrate(ctx, pool, schema, upTo); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s: migrate: %w", redacted, err)
	}
	return &Store{pool: pool, schema: schema, url: redacted}, nil
}

// parseURL turns a store URL into a pool configuration, taking out the
// schema parameter.
func parseURL(rawURL string) (*pgxpool.Config, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the bare cause: url.Error would print the URL, password included
		}
		return nil, "", fmt.Errorf("parse URL: %w", err)
	}
	if s := strings.ToLower(u.Scheme); s != "postgres" && s != "postgresql" {
		return nil, "", fmt.Errorf("parse URL: scheme is %q, want postgres or postgresql", u.Scheme)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, "", fmt.Errorf("parse URL: query: %w", err)
	}
	schema := q.Get("schema")
	if q.Has("schema") && (!schemaRE.MatchString(schema) || strings.HasPrefix(schema, "pg_")) {
		return nil, "", fmt.Errorf("parse URL: schema: want lower-case letters, digits and _ (at most 63, not starting with a digit or pg_), got %q", schema)
	}
	q.Del("schema")
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, "", fmt.Errorf("parse URL: %w", err) // pgconn redacts the password itself
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	return cfg, schema, nil
}

// Schema returns the schema named in the URL ("" when none was).
func (s *Store) Schema() string { return s.schema }

// pgText returns s in a form PostgreSQL text can hold: invalid UTF-8 and
// U+0000 become U+FFFD.
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func pgNullable(s string) *string {
	if s == "" {
		return nil
	}
	t := pgText(s)
	return &t
}

// bound is a filter time rounded up to the next whole microsecond, so that
// "received_at >= bound(t)" is exactly "at or after t" for stored times.
func bound(t time.Time) time.Time {
	if r := t.Truncate(time.Microsecond); !r.Equal(t) {
		return r.Add(time.Microsecond)
	}
	return t
}

// nulEscape is the JSON escape of U+0000, which jsonb rejects.
var nulEscape = []byte(`\u0000`)

// hasNULEscape reports whether JSON text doc holds a \u0000 escape (and not
// merely an escaped backslash followed by "u0000").
func hasNULEscape(doc []byte) bool {
	for i := 0; i < len(doc); i++ {
		if doc[i] != '\\' || i+1 >= len(doc) {
			continue
		}
		if doc[i+1] == 'u' && bytes.HasPrefix(doc[i:], nulEscape) {
			return true
		}
		i++ // skip the escaped character
	}
	return false
}

// replaceNULEscapes returns doc with every \u0000 escape turned into \ufffd.
func replaceNULEscapes(doc []byte) []byte {
	out := make([]byte, 0, len(doc))
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if c == '\\' && i+1 < len(doc) {
			if bytes.HasPrefix(doc[i:], nulEscape) {
				out = append(out, `\ufffd`...)
				i += len(nulEscape) - 1
				continue
			}
			out = append(out, c, doc[i+1])
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

// jsonbOrder reports whether names are in the order jsonb keeps object keys
// (shorter keys first, then bytewise) and distinct.
func jsonbOrder(names []string) bool {
	for i := 1; i < len(names); i++ {
		a, b := names[i-1], names[i]
		if len(a) > len(b) || len(a) == len(b) && a >= b {
			return false
		}
	}
	return true
}

func distinct(names []string) bool {
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, ok := seen[n]; ok {
			return false
		}
		seen[n] = struct{}{}
	}
	return true
}

// encoded is one record in the columns' form.
type encoded struct {
	doc, order, exact *string
}

func encode(rec *record.Record) (encoded, error) {
	r := *rec
	r.ReceivedAt = record.Timestamp(r.ReceivedAt)
	doc, err := docjson.AppendRecord(make([]byte, 0, 1536), &r)
	if err != nil {
		return encoded{}, fmt.Errorf("encode record %q: %w", rec.ID, err)
	}
	var e encoded
	exact := hasNULEscape(doc)
	var order []byte // {"model":["feature",…],…} for the models jsonb would reorder
	for name, m := range rec.Models {
		if len(m.Features.Names) < 2 || jsonbOrder(m.Features.Names) {
			continue
		}
		if !distinct(m.Features.Names) {
			exact = true
			break
		}
		if order == nil {
			order = append(make([]byte, 0, 256), '{')
		} else {
			order = append(order, ',')
		}
		order = append(docjson.AppendString(order, name), ':', '[')
		for i, f := range m.Features.Names {
			if i > 0 {
				order = append(order, ',')
			}
			order = docjson.AppendString(order, f)
		}
		order = append(order, ']')
	}
	if exact {
		s := string(doc)
		e.exact = &s
		doc = replaceNULEscapes(doc)
	} else if order != nil {
		s := string(append(order, '}'))
		e.order = &s
	}
	d := string(doc)
	e.doc = &d
	return e, nil
}

// decode rebuilds a record from its three JSON columns; dec (nil for a
// single record) shares interned keys and feature names across one scan.
func decode(doc, order, exact []byte, rec *record.Record, dec *docjson.Decoder) error {
	if exact != nil {
		doc, order = exact, nil
	}
	decodeDoc := docjson.DecodeRecord
	if dec != nil {
		decodeDoc = dec.Decode
	}
	if err := decodeDoc(doc, rec); err != nil {
		return fmt.Errorf("decode stored record: %w", err)
	}
	rec.ReceivedAt = rec.ReceivedAt.UTC()
	if order == nil {
		return nil
	}
	var names map[string][]string
	if err := json.Unmarshal(order, &names); err != nil {
		return fmt.Errorf("decode feature order of %q: %w", rec.ID, err)
	}
	for model, ns := range names {
		m, ok := rec.Models[model]
		if !ok || len(ns) != m.Features.Len() {
			return fmt.Errorf("decode feature order of %q: model %q has %d features, order lists %d", rec.ID, model, m.Features.Len(), len(ns))
		}
		vals := make([]float64, len(ns))
		for i, n := range ns {
			v, ok := m.Features.Get(n)
			if !ok {
				return fmt.Errorf("decode feature order of %q: model %q lacks feature %q", rec.ID, model, n)
			}
			vals[i] = v
		}
		m.Features.Names, m.Features.Values = ns, vals
		rec.Models[model] = m
	}
	return nil
}

// ctxErr wraps err with ctx's error when ctx is done, so callers can test
// errors.Is(err, context.Canceled) whatever pgx reported.
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

var _ record.OutageClassifier = (*Store)(nil)

// Unavailable reports whether err, from one of the store's writes, says
// PostgreSQL was not serving rather than refusing the rows: a connection
// that could not be made or was lost, a timeout, or a SQLSTATE of class 08
// (connection exception), 53 (insufficient resources), 57 (operator
// intervention: shutting down, starting up — 57P03 — or a cancelled
// statement) or 58 (system error, such as an I/O error). It makes the
// store a record.OutageClassifier (which also counts record.Unavailable's
// generic network errors).
func (s *Store) Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "08", "53", "57", "58":
			return true
		}
	}
	return false
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

var recordColumns = []string{"id", "received_at", "entity_id", "status", "doc", "feature_order", "doc_exact"}

const insertRecords = `INSERT INTO records (id, received_at, entity_id, status, doc, feature_order, doc_exact)
SELECT i, r, e, s, d::jsonb, o::json, x::json
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(i, r, e, s, d, o, x)
ON CONFLICT (id) DO NOTHING`

// WriteRecords writes recs in one statement (COPY, or INSERT … ON CONFLICT
// DO NOTHING when some id is stored already); records whose ID is stored
// already (or appeared earlier in recs) are skipped.
func (s *Store) WriteRecords(ctx context.Context, recs []record.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	recs = record.UniqueByID(recs)
	if len(recs) == 0 {
		return nil
	}
	n := len(recs)
	ids, entities, statuses := make([]string, n), make([]*string, n), make([]string, n)
	ats := make([]time.Time, n)
	docs, orders, exacts := make([]*string, n), make([]*string, n), make([]*string, n)
	// encodeOne fills row i of the column arrays.
	encodeOne := func(i int) error {
		e, err := encode(&recs[i])
		if err != nil {
			return err
		}
		ids[i], entities[i], statuses[i] = pgText(recs[i].ID), pgNullable(recs[i].EntityID), pgText(recs[i].Status)
		ats[i] = record.Timestamp(recs[i].ReceivedAt)
		docs[i], orders[i], exacts[i] = e.doc, e.order, e.exact
		return nil
	}
	// Fast path: COPY straight into records. pgx pulls the rows from a
	// goroutine of its own while the connection streams them, so records
	// are encoded while the server stores the previous ones. A batch with
	// an id that is stored already (a retried batch) fails whole with
	// unique_violation and is written again with INSERT … ON CONFLICT DO
	// NOTHING.
	encoded := 0 // rows encoded by the COPY (read after CopyFrom has returned)
	var encErr error
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"records"}, recordColumns, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		if err := encodeOne(i); err != nil {
			encErr = err
			return nil, err
		}
		encoded = i + 1
		return []any{ids[i], ats[i], entities[i], statuses[i], docs[i], orders[i], exacts[i]}, nil
	}))
	if encErr != nil {
		return fmt.Errorf("write records: %w", encErr)
	}
	if err == nil {
		return nil
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != uniqueViolation {
		return fmt.Errorf("write %d records: copy: %w", n, ctxErr(ctx, err))
	}
	for i := encoded; i < n; i++ {
		if err := encodeOne(i); err != nil {
			return fmt.Errorf("write records: %w", err)
		}
	}
	if _, err := s.pool.Exec(ctx, insertRecords, ids, ats, entities, statuses, docs, orders, exacts); err != nil {
		return fmt.Errorf("write %d records: %w", n, ctxErr(ctx, err))
	}
	return nil
}

// GetRecord returns the record with that id, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, id string) (record.Record, error) {
	if err := ctx.Err(); err != nil {
		return record.Record{}, fmt.Errorf("get record %q: %w", id, err)
	}
	var doc, order, exact []byte
	err := s.pool.QueryRow(ctx, `SELECT doc, feature_order, doc_exact FROM records WHERE id = $1`, pgText(id)).Scan(&doc, &order, &exact)
	if errors.Is(err, pgx.ErrNoRows) {
		return record.Record{}, fmt.Errorf("get record %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return record.Record{}, fmt.Errorf("get record %q: %w", id, ctxErr(ctx, err))
	}
	var rec record.Record
	if err := decode(doc, order, exact, &rec, nil); err != nil {
		return record.Record{}, fmt.Errorf("get record %q: %w", id, err)
	}
	return rec, nil
}

// scanQuery builds the SQL and arguments of a record scan.
func scanQuery(p store.ScanParams) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if !p.Since.IsZero() {
		add("received_at >= $%d", bound(p.Since))
	}
	if !p.Until.IsZero() {
		add("received_at < $%d", bound(p.Until))
	}
	if p.EntityID != "" {
		add("entity_id = $%d", pgText(p.EntityID))
	}
	if p.Status != "" {
		add("status = $%d", pgText(p.Status))
	}
	if !p.After.IsZero() {
		// A row comparison, which PostgreSQL answers from the
		// (received_at, id) indexes; id is COLLATE "C" (byte order).
		args = append(args, record.Timestamp(p.After.ReceivedAt), pgText(p.After.ID))
		op := ">"
		if p.Descending {
			op = "<"
		}
		where = append(where, fmt.Sprintf("(received_at, id) %s ($%d, $%d)", op, len(args)-1, len(args)))
	}
	q := "SELECT doc, feature_order, doc_exact FROM records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if p.Descending {
		q += " ORDER BY received_at DESC, id DESC"
	} else {
		q += " ORDER BY received_at, id"
	}
	if p.Limit > 0 {
		args = append(args, p.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	return q, args
}

// ScanRecords streams the matching records in (ReceivedAt, ID) order, or
// the reverse when p.Descending.
func (s *Store) ScanRecords(ctx context.Context, p store.ScanParams, fn func(rec *record.Record) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	q, args := scanQuery(p)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("scan records: %w", ctxErr(ctx, err))
	}
	defer rows.Close()
	var dec docjson.Decoder
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan records: %w", err)
		}
		raw := rows.RawValues() // valid until the next call to Next
		var rec record.Record
		if err := decode(raw[0], raw[1], raw[2], &rec, &dec); err != nil {
			return fmt.Errorf("scan records: %w", err)
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan records: %w", ctxErr(ctx, err))
	}
	return nil
}

const insertFeedback = `INSERT INTO feedback (id, request_id, entity_id, label, received_at)
SELECT i, r, e, l, t FROM unnest($5::text[], $1::text[], $2::text[], $3::integer[], $4::timestamptz[]) WITH ORDINALITY AS u(i, r, e, l, t, n)
ORDER BY n
ON CONFLICT (id) DO NOTHING`

// WriteFeedback appends fb in one statement, in slice order, skipping the
// rows whose ID is stored already (idempotent by Feedback.ID).
func (s *Store) WriteFeedback(ctx context.Context, fb []record.Feedback) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write feedback: %w", err)
	}
	if len(fb) == 0 {
		return nil
	}
	ids, reqs, ents := make([]*string, len(fb)), make([]string, len(fb)), make([]*string, len(fb))
	labels, ats := make([]int32, len(fb)), make([]time.Time, len(fb))
	for i, f := range fb {
		if int64(f.Label) != int64(int32(f.Label)) {
			return fmt.Errorf("write feedback: label %d of request %q does not fit a 32-bit integer", f.Label, f.RequestID)
		}
		ids[i], reqs[i], ents[i], labels[i], ats[i] = pgNullable(f.ID), pgText(f.RequestID), pgNullable(f.EntityID), int32(f.Label), record.Timestamp(f.ReceivedAt)
	}
	if _, err := s.pool.Exec(ctx, insertFeedback, reqs, ents, labels, ats, ids); err != nil {
		return fmt.Errorf("write %d feedback rows: %w", len(fb), ctxErr(ctx, err))
	}
	return nil
}

// ScanFeedback calls fn for every feedback row in p's range, in ReceivedAt
// order and insertion order for ties.
func (s *Store) ScanFeedback(ctx context.Context, p store.FeedbackScanParams, fn func(fb record.Feedback) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan feedback: %w", err)
	}
	q := "SELECT coalesce(id, ''), request_id, coalesce(entity_id, ''), label, received_at FROM feedback"
	var where []string
	var args []any
	if !p.Since.IsZero() {
		args = append(args, bound(p.Since))
		where = append(where, fmt.Sprintf("received_at >= $%d", len(args)))
	}
	if !p.Until.IsZero() {
		args = append(args, bound(p.Until))
		where = append(where, fmt.Sprintf("received_at < $%d", len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at, seq"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("scan feedback: %w", ctxErr(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan feedback: %w", err)
		}
		var f record.Feedback
		var label int32
		if err := rows.Scan(&f.ID, &f.RequestID, &f.EntityID, &label, &f.ReceivedAt); err != nil {
			return fmt.Errorf("scan feedback: %w", err)
		}
		f.Label, f.ReceivedAt = int(label), f.ReceivedAt.UTC()
		if err := fn(f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan feedback: %w", ctxErr(ctx, err))
	}
	return nil
}

// Match resolves request ids and entity ids to stored requests; an entity's
// requests are listed in (ReceivedAt, ID) order. Empty ids are ignored.
func (s *Store) Match(ctx context.Context, p store.MatchParams) (store.MatchResult, error) {
	res := store.MatchResult{Requests: map[string]bool{}, Entities: map[string][]string{}}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("match: %w", err)
	}
	err := s.matchQuery(ctx, p.RequestIDs, `SELECT id, id FROM records WHERE id = ANY($1)`, func(key, _ string) {
		res.Requests[key] = true
	})
	if err != nil {
		return res, fmt.Errorf("match request ids: %w", err)
	}
	err = s.matchQuery(ctx, p.EntityIDs, `SELECT entity_id, id FROM records WHERE entity_id = ANY($1) ORDER BY received_at, id`, func(key, id string) {
		res.Entities[key] = append(res.Entities[key], id)
	})
	if err != nil {
		return res, fmt.Errorf("match entity ids: %w", err)
	}
	return res, nil
}

// matchQuery runs query with the distinct non-empty ids (in PostgreSQL text
// form) as $1 and calls fn with each row's caller-side id and second column.
func (s *Store) matchQuery(ctx context.Context, ids []string, query string, fn func(key, id string)) error {
	byText := make(map[string][]string, len(ids)) // text form → caller's ids
	var args []string
	for _, id := range ids {
		if id == "" {
			continue
		}
		t := pgText(id)
		if _, ok := byText[t]; !ok {
			args = append(args, t)
		}
		if !slices.Contains(byText[t], id) {
			byText[t] = append(byText[t], id)
		}
	}
	if len(args) == 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, query, args)
	if err != nil {
		return ctxErr(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t, id string
		if err := rows.Scan(&t, &id); err != nil {
			return err
		}
		for _, key := range byText[t] {
			fn(key, id)
		}
	}
	return ctxErr(ctx, rows.Err())
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres store %s: %w", s.url, ctxErr(ctx, err))
	}
	return nil
}

// Close closes every connection of the pool, waiting for the ones in use
// to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

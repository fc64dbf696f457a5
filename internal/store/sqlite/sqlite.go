// Package sqlite is the embedded default record store: one SQLite file,
// written with the pure-Go driver modernc.org/sqlite (no cgo).
//
// # URL
//
//	sqlite:///var/lib/rendezvous/records.db   absolute path
//	sqlite://./data/records.db               path relative to the working directory
//	sqlite:records.db                        path relative to the working directory
//	sqlite://data/records.db                 also relative: data/records.db
//
// Percent-escapes in the path are decoded. Two query parameters are
// accepted: busy_timeout (a Go duration, default 5s), how long a statement
// waits for a lock held by another process before failing; and synchronous
// (normal, the default, or full), SQLite's synchronous setting: with full,
// COMMIT waits for the WAL to be fsynced, so a committed batch survives a
// machine crash or power loss (use it with recorder.durability: sync,
// e.g. sqlite:///var/lib/rendezvous.db?synchronous=full). The file and its directory are
// created when missing. In-memory databases are refused: the store uses
// separate reader and writer connections, which would see different
// databases.
//
// # Layout
//
// The database runs in WAL mode with synchronous=NORMAL unless the URL says
// synchronous=full (NORMAL: a committed batch survives a crash of the
// process; a power loss may lose the last batches; FULL: it survives that
// too; Close checkpoints, so nothing committed is lost on a clean shutdown).
// Files this store creates have 16 KiB pages (see pageSize); a file created
// with other pages keeps them.
//
//	records(id TEXT PRIMARY KEY, received_at INTEGER, entity_id TEXT, status TEXT, doc TEXT)
//	feedback(seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id, entity_id, label INTEGER, received_at INTEGER)
//	schema_migrations(version INTEGER PRIMARY KEY, name, applied_at)
//	summary_blocks(seq INTEGER PRIMARY KEY AUTOINCREMENT, min_at INTEGER, max_at INTEGER, n INTEGER, data BLOB, inputs BLOB)
//	deployment_events(seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER, kind TEXT, doc TEXT)
//
// doc is the whole record as JSON (the record.Record encoding, "_id" first);
// received_at is microseconds since the Unix epoch in UTC; entity_id is NULL
// when the request named none. records is indexed on (received_at, id),
// (entity_id, received_at, id) and (status, received_at, id); feedback on
// (received_at, seq) and request_id. summary_blocks holds, per write batch,
// the compact summaries analytics scans (see ScanSummaries). The JSON can be queried with SQLite's
// JSON functions, e.g. json_extract(doc, '$.models."prod-gbt".prediction').
//
// # Concurrency
//
// A Store is safe for concurrent use. Writes go through a single connection
// (SQLite has one writer at a time) and each batch is one BEGIN IMMEDIATE
// transaction of prepared multi-row INSERT OR IGNORE statements; records
// are JSON-encoded (into a buffer reused from batch to batch) before the
// transaction starts, so concurrent writers encode in parallel.
// Reads use a separate pool of read-only connections and never wait for a
// write (WAL). SQLite's automatic checkpoint (which would run inside a
// writer's COMMIT) is off: after every ~3 MiB of committed documents a
// PASSIVE checkpoint runs on a connection of its own, so the writer never
// waits for it. The writer keeps an 8 MiB page cache, several times a
// batch of 512 records, so a batch does not spill to the WAL before its
// COMMIT.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/docjson"
)

// Scheme is the URL scheme of this backend.
const Scheme = "sqlite"

// DefaultBusyTimeout is how long a statement waits for another process's
// lock when the URL sets no busy_timeout.
const DefaultBusyTimeout = 5 * time.Second

// readers is the size of the read-only connection pool.
const readers = 4

// multiRow is the number of records one multi-row INSERT writes (5 values
// each, well under SQLite's limit of 32766 bound values).
const multiRow = 64

// matchChunk bounds the ids bound into one IN (…) list.
const matchChunk = 500

// Store is a record store in one SQLite file. See the package doc.
type Store struct {
	path string
	w    *sql.DB // one connection: every write
	r    *sql.DB // read-only connections
	ck   *sql.DB // one connection: checkpoints

	walBytes atomic.Int64  // document bytes committed since the last checkpoint request
	buffers  chan *[]byte  // spare encoding buffers (encodeRows, putBuffer)
	kick     chan struct{} // asks the checkpointer to run (capacity 1; never closed)
	stop     chan struct{} // closed by Close to stop the checkpointer
	stopOnce sync.Once
	// closeOnce makes Close idempotent; the handles stay set, so a call
	// after Close is an error ("sql: database is closed"), not a panic.
	closeOnce sync.Once
	closeErr  error
	ckDone    chan struct{} // closed when the checkpointer has stopped
	// onCheckpoint, when set (by tests, before any write), is called after
	// each checkpoint with its outcome.
	onCheckpoint func(busy bool, walFrames, copied int, err error)
	// catchUp asks the writer to finish the background checkpoint itself
	// before its next transaction (see checkpointLoop); catchUpFrames is
	// catchUpBytes in WAL frames (pages).
	catchUp       atomic.Bool
	catchUpFrames int
	// restart asks the writer's catch-up to be a RESTART checkpoint, which
	// waits for the readers in the WAL (see inTx); restartFrames is
	// restartBytes in frames.
	restart       atomic.Bool
	restartFrames int
	busy          time.Duration // busy_timeout of the connections

	insertRecord   *sql.Stmt // one row
	insertRecords  *sql.Stmt // multiRow rows
	insertFeedback *sql.Stmt
	getRecord      *sql.Stmt

	mu           sync.Mutex
	scans        map[string]*sql.Stmt // prepared scan queries on r, by SQL text
	insertReplay *sql.Stmt            // multiRow replay results on w (replayInsert)
}

var _ store.Store = (*Store)(nil)

// Config is a parsed sqlite store URL.
type Config struct {
	// Path is the database file, absolute or relative to the working
	// directory.
	Path string
	// BusyTimeout is how long a statement waits for another process's lock.
	BusyTimeout time.Duration
	// Synchronous is SQLite's synchronous setting for the writer:
	// SynchronousNormal (default: a committed batch survives a crash of the
	// process; a power loss or machine crash may lose the last batches) or
	// SynchronousFull (COMMIT waits for fsync: a committed batch survives a
	// machine crash too; for recorder.durability: sync).
	Synchronous string
}

// Synchronous settings (the URL's synchronous parameter).
const (
	SynchronousNormal = "normal"
	SynchronousFull   = "full"
)

// ParseURL parses a sqlite store URL (see the package doc).
func ParseURL(rawURL string) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Config{}, fmt.Errorf("parse sqlite URL: %w", err)
	}
	if !strings.EqualFold(u.Scheme, Scheme) {
		return Config{}, fmt.Errorf("parse sqlite URL: scheme is %q, want %q", u.Scheme, Scheme)
	}
	var path string
	switch {
	case u.Opaque != "": // sqlite:relative.db
		path, err = url.PathUnescape(u.Opaque)
		if err != nil {
			return Config{}, fmt.Errorf("parse sqlite URL: path: %w", err)
		}
	case u.Host != "": // sqlite://./rel.db, sqlite://dir/file.db
		path = u.Host + u.Path
	default: // sqlite:///abs/path.db
		path = u.Path
	}
	if path == "" || path == "/" {
		return Config{}, errors.New("parse sqlite URL: no file path (want e.g. sqlite:///var/lib/rendezvous.db or sqlite:rendezvous.db)")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(u.RawQuery, "mode=memory") {
		return Config{}, errors.New("parse sqlite URL: in-memory databases are not supported; name a file")
	}
	cfg := Config{Path: filepath.Clean(path), BusyTimeout: DefaultBusyTimeout, Synchronous: SynchronousNormal}
	for k, vs := range u.Query() {
		switch k {
		case "busy_timeout":
			d, err := time.ParseDuration(vs[len(vs)-1])
			if err != nil || d < 0 {
				return Config{}, fmt.Errorf("parse sqlite URL: busy_timeout: want a duration such as 5s, got %q", vs[len(vs)-1])
			}
			cfg.BusyTimeout = d
		case "synchronous":
			v := strings.ToLower(vs[len(vs)-1])
			if v != SynchronousNormal && v != SynchronousFull {
				return Config{}, fmt.Errorf("parse sqlite URL: synchronous: want normal or full, got %q", vs[len(vs)-1])
			}
			cfg.Synchronous = v
		default:
			return Config{}, fmt.Errorf("parse sqlite URL: unknown parameter %q (known: busy_timeout, synchronous)", k)
		}
	}
	return cfg, nil
}

// Open opens (creating and migrating when needed) the store a sqlite URL
// names. ctx bounds the opening and migration only.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", store.RedactURL(rawURL), err)
	}
	s, err := OpenConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", store.RedactURL(rawURL), err)
	}
	return s, nil
}

// OpenConfig opens the store cfg describes, creating the file and its
// directory when missing and applying pending migrations.
func OpenConfig(ctx context.Context, cfg Config) (*Store, error) {
	return openAt(ctx, cfg, len(migrations))
}

// openAt opens the store migrated up to version upTo (tests build old
// databases with it).
func openAt(ctx context.Context, cfg Config, upTo int) (_ *Store, err error) {
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("resolve path %q: %w", cfg.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	busy := cfg.BusyTimeout
	if busy == 0 {
		busy = DefaultBusyTimeout
	}
	sync := strings.ToUpper(cfg.Synchronous)
	if sync == "" {
		sync = "NORMAL"
	}
	base := (&url.URL{Scheme: "file", Path: abs}).String() +
		fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=synchronous(%s)", busy.Milliseconds(), sync)
	s := &Store{path: abs, scans: map[string]*sql.Stmt{}, busy: busy}
	s.buffers = make(chan *[]byte, spareBuffers)
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if err := create(ctx, abs, base); err != nil {
		return nil, fmt.Errorf("create %s: %w", abs, err)
	}
	s.w, err = sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)"+
		"&_pragma=journal_size_limit(67108864)&_pragma=cache_size(-8192)&_pragma=foreign_keys(0)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.w.SetConnMaxLifetime(0)
	if err := s.w.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	if err := migrate(ctx, s.w, upTo); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", abs, err)
	}

	s.r, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)

	if upTo < len(migrations) {
		return s, nil // an old schema for a test: no statements
	}
	s.ck, err = sql.Open("sqlite", base)
	if err != nil {
		return nil, err
	}
	s.ck.SetMaxOpenConns(1)
	var page int64
	if err := s.ck.QueryRowContext(ctx, "PRAGMA page_size").Scan(&page); err != nil {
		return nil, fmt.Errorf("read page size: %w", err)
	}
	s.catchUpFrames = int(max(1, catchUpBytes/page))
	s.restartFrames = int(max(1, restartBytes/page))
	s.kick, s.stop, s.ckDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go s.checkpointLoop()
	for _, p := range []struct {
		db  *sql.DB
		dst **sql.Stmt
		sql string
	}{
		{s.w, &s.insertRecord, insertRecordsSQL(1)},
		{s.w, &s.insertRecords, insertRecordsSQL(multiRow)},
		{s.w, &s.insertFeedback, `INSERT INTO feedback (id, request_id, entity_id, label, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`},
		{s.r, &s.getRecord, `SELECT doc FROM records WHERE id = ?`},
	} {
		if *p.dst, err = p.db.PrepareContext(ctx, p.sql); err != nil {
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
	}
	return s, nil
}

// pageSize is the page size of the database files this store creates,
// larger than SQLite's default 4096 so a batch's documents take fewer WAL
// frames: each frame costs two write system calls at COMMIT and a read and
// a write when checkpointed, which made up a third of the CPU time of a
// write with 4 KiB pages. Measured per record of the batch-512 benchmark,
// write calls and bytes written (WAL and checkpoint): 4 KiB 1.31 calls,
// 3.5 KB; 16 KiB 0.36 calls, 3.7 KB; 32 KiB 0.23 calls, 4.5 KB (each
// commit rewrites the last, partly filled page of every table and index).
// 16 KiB and 32 KiB cost the same CPU; 16 KiB writes less. A file keeps
// the page size it was created with.
const pageSize = 16384

// create gives a missing or empty database file its page size and WAL mode
// (the page size must be set before WAL mode, which the writer's DSN sets
// first, or any table). It leaves an existing database alone.
func create(ctx context.Context, abs, dsn string) error {
	if fi, err := os.Stat(abs); err == nil && fi.Size() > 0 {
		return nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Both are no-ops on a file another process initialised meanwhile.
	for _, q := range []string{fmt.Sprintf("PRAGMA page_size = %d", pageSize), "PRAGMA journal_mode = WAL"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return db.Close()
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// encodeRecord is the JSON document stored for rec: rec with its ReceivedAt
// in store.Timestamp form, as docjson writes it.
func encodeRecord(rec *record.Record) (string, error) {
	b, err := appendRecord(make([]byte, 0, 1536), rec)
	return string(b), err
}

// appendRecord appends the document encodeRecord returns to dst.
func appendRecord(dst []byte, rec *record.Record) ([]byte, error) {
	r := *rec
	r.ReceivedAt = record.Timestamp(r.ReceivedAt)
	b, err := docjson.AppendRecord(dst, &r)
	if err != nil {
		return dst, fmt.Errorf("encode record %q: %w", rec.ID, err)
	}
	return b, nil
}

// spareBuffers is how many encoding buffers a Store keeps between batches
// (one per writer that encodes while another holds the write lock).
const spareBuffers = 2

// maxSpareBuffer bounds the size of a buffer kept for the next batch (a
// huge batch does not pin its buffer for the life of the process).
const maxSpareBuffer = 8 << 20

// encodeRows JSON-encodes recs into one buffer, whose slices the rows hold
// as their documents: a batch's documents take no allocation (the buffer
// is the Store's, returned with putBuffer once the rows are written). It
// returns the rows and the buffer.
func (s *Store) encodeRows(recs []record.Record) ([]row, *[]byte, error) {
	var bp *[]byte
	select {
	case bp = <-s.buffers:
	default:
		bp = new([]byte)
	}
	// Sized from this batch, not the previous one's: one huge record
	// before a large batch must not reserve huge × count bytes. JSON may
	// grow past the estimate (escaped control characters); append grows
	// the buffer then, and putBuffer drops a buffer past maxSpareBuffer.
	want := 0
	for i := range recs {
		want += recs[i].SizeHint()
	}
	want += want / 4
	buf := slices.Grow((*bp)[:0], want)
	rows := make([]row, len(recs))
	for i := range recs {
		var err error
		if buf, err = appendRecord(buf, &recs[i]); err != nil {
			return nil, nil, err
		}
		rows[i] = row{id: recs[i].ID, end: len(buf), status: recs[i].Status, at: micros(recs[i].ReceivedAt), entity: recs[i].EntityID}
	}
	start := 0
	for i := range rows { // slices taken only now: buf may have moved while growing
		rows[i].doc, start = buf[start:rows[i].end:rows[i].end], rows[i].end
	}
	*bp = buf
	return rows, bp, nil
}

// putBuffer keeps an encoding buffer for a later batch, once nothing
// refers to its contents any more.
func (s *Store) putBuffer(bp *[]byte) {
	if cap(*bp) > maxSpareBuffer {
		return
	}
	select {
	case s.buffers <- bp:
	default:
	}
}

// decodeRecord decodes one stored document.
func decodeRecord(doc []byte, rec *record.Record) error {
	return decodeRecordWith(nil, doc, rec)
}

// decodeRecordWith decodes a stored document; dec (nil for a single record)
// shares interned keys and feature names across one scan.
func decodeRecordWith(dec *docjson.Decoder, doc []byte, rec *record.Record) error {
	decode := docjson.DecodeRecord
	if dec != nil {
		decode = dec.Decode
	}
	if err := decode(doc, rec); err != nil {
		return fmt.Errorf("decode stored record: %w", err)
	}
	rec.ReceivedAt = rec.ReceivedAt.UTC()
	return nil
}

// micros is t in stored form: microseconds since the epoch, UTC.
func micros(t time.Time) int64 { return record.Timestamp(t).UnixMicro() }

// bound is a filter time as stored microseconds: the first stored value at
// or after t, so "received_at >= bound(t)" is exactly "at or after t".
func bound(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// row is one record as the INSERT binds it.
type row struct {
	id, status, entity string
	at                 int64
	doc                []byte // bound as a blob, stored as text (insertRecordsSQL)
	end                int    // end of doc in the batch's buffer (encodeRows)
}

// WriteRecords writes recs in one transaction; records whose ID is stored
// already (or appeared earlier in recs) are skipped. The documents are
// encoded before the transaction, so concurrent callers overlap that; the
// summary block is encoded meanwhile on another goroutine, so one caller
// uses a second core when there is one.
func (s *Store) WriteRecords(ctx context.Context, recs []record.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	recs = record.UniqueByID(recs)
	if len(recs) == 0 {
		return nil
	}
	// The summary block is encoded on a goroutine of its own while this one
	// encodes the documents and inserts them; the transaction waits for it
	// only to write it, last. recs is the caller's: no return before the
	// goroutine is done with it.
	var (
		sums    summaryBatch
		sumsErr error
		sumsEnd = make(chan struct{})
	)
	go func() {
		defer close(sumsEnd)
		sums, sumsErr = prepareSummaries(recs)
	}()
	defer func() { <-sumsEnd }()
	rows, buf, err := s.encodeRows(recs)
	if err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	size := int64(len(*buf))
	defer s.putBuffer(buf)
	args := make([]any, 0, 5*min(len(rows), multiRow))
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		mark, err := summaryMark(ctx, tx)
		if err != nil {
			return err
		}
		many := tx.StmtContext(ctx, s.insertRecords)
		one := tx.StmtContext(ctx, s.insertRecord)
		var inserted int64 // rows the INSERT OR IGNOREs added (-1: unknown)
		for rows := rows; len(rows) > 0; {
			stmt, n := many, multiRow
			if len(rows) < multiRow {
				stmt, n = one, 1
			}
			args = args[:0]
			for _, r := range rows[:n] {
				args = append(args, r.id, r.at, nullable(r.entity), r.status, r.doc)
			}
			res, err := stmt.ExecContext(ctx, args...)
			if err != nil {
				return fmt.Errorf("insert %q…: %w", rows[0].id, err)
			}
			if k, err := res.RowsAffected(); err == nil && inserted >= 0 {
				inserted += k
			} else {
				inserted = -1
			}
			rows = rows[n:]
		}
		<-sumsEnd
		if sumsErr != nil {
			return sumsErr
		}
		return writeSummaries(ctx, tx, sums, mark, inserted)
	})
	if err != nil {
		return fmt.Errorf("write %d records: %w", len(recs), err)
	}
	s.wrote(size + int64(sums.size()))
	return nil
}

// checkpointEvery is how many bytes of documents are committed between two
// checkpoint requests (about a thousand 4 KiB pages with the indexes).
const checkpointEvery = 3 << 20

// wrote counts committed bytes and wakes the checkpointer every
// checkpointEvery bytes, without ever waiting for it.
func (s *Store) wrote(n int64) {
	if s.walBytes.Add(n) < checkpointEvery {
		return
	}
	s.walBytes.Store(0)
	select {
	case s.kick <- struct{}{}:
	default: // a request is pending already
	}
}

// checkpointLoop copies committed WAL frames into the database file on its
// own connection, so the writer never pays for it (SQLite's automatic
// checkpoint, which would run inside a writer's COMMIT, is off). PASSIVE
// checkpoints wait for no one; frames a reader still needs are copied by a
// later run. When the WAL holds catchUpBytes or more, the writer copies the
// last frames itself before its next transaction, so the WAL restarts
// (inTx). It returns when stop is closed.
func (s *Store) checkpointLoop() {
	defer close(s.ckDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
			// An error (e.g. the disk is full) is retried at the next
			// request; the WAL grows meanwhile and every committed record
			// stays readable.
			var busy, walFrames, copied int
			err := s.ck.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walFrames, &copied)
			if err == nil && walFrames >= s.catchUpFrames {
				if walFrames >= s.restartFrames {
					s.restart.Store(true)
				}
				s.catchUp.Store(true)
			}
			if s.onCheckpoint != nil {
				s.onCheckpoint(busy != 0, walFrames, copied, err)
			}
		}
	}
}

// insertRecordsSQL is an INSERT of n records. The document is bound as a
// blob (a slice of the batch's reused buffer, which the driver copies) and
// stored as text: CAST reinterprets the bytes, valid UTF-8, unchanged.
func insertRecordsSQL(n int) string {
	return "INSERT OR IGNORE INTO records (id, received_at, entity_id, status, doc) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, CAST(? AS TEXT)), ", n), ", ")
}

// catchUpBytes is how large the WAL may grow before the writer finishes a
// background checkpoint itself (see checkpointLoop); past restartBytes the
// writer waits for the readers in the WAL to leave it.
const (
	catchUpBytes = 16 << 20
	restartBytes = 32 << 20
	restartWait  = time.Second
)

// inTx runs fn in a write transaction and commits it when fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.catchUp.Swap(false) {
		// SQLite starts the WAL over from its beginning only when a write
		// transaction begins with every frame copied into the database and
		// no reader in the WAL. A writer that commits back to back always
		// gets ahead of the background checkpoint, so the WAL would grow
		// for as long as the writes go on. Past catchUpBytes the writer
		// copies the frames committed since the background checkpoint
		// (few: that one copied the rest) on its own connection, where no
		// commit can come in between, and this transaction restarts the
		// WAL. PASSIVE: it waits for no one; a reader still in the WAL
		// leaves it to the next round.
		//
		// When readers keep coming (each short, but one always in the WAL)
		// PASSIVE never restarts it; past restartBytes the catch-up is a
		// RESTART: it waits, up to restartWait, for the readers already
		// in the WAL — readers arriving meanwhile read the database file,
		// every frame being copied — so the WAL restarts and stays
		// bounded at the cost of one write waiting a read's length.
		// The wait is restartWait, not busy_timeout: a long analytics read
		// holding the WAL delays this write that long at most, and the
		// next catch-up tries again.
		var busy, walFrames, copied int
		if s.restart.Swap(false) {
			_, _ = s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", restartWait.Milliseconds()))
			_ = s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &walFrames, &copied)
			_, _ = s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", s.busy.Milliseconds()))
		} else {
			_ = s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walFrames, &copied)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// GetRecord returns the record with that id, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, id string) (record.Record, error) {
	var doc []byte
	if err := s.getRecord.QueryRowContext(ctx, id).Scan(&doc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return record.Record{}, fmt.Errorf("get record %q: %w", id, store.ErrNotFound)
		}
		return record.Record{}, fmt.Errorf("get record %q: %w", id, err)
	}
	var rec record.Record
	if err := decodeRecord(doc, &rec); err != nil {
		return record.Record{}, fmt.Errorf("get record %q: %w", id, err)
	}
	return rec, nil
}

// scanQuery builds the SQL and arguments of a record scan.
func scanQuery(p store.ScanParams) (string, []any) {
	var where []string
	var args []any
	if !p.Since.IsZero() {
		where = append(where, "received_at >= ?")
		args = append(args, bound(p.Since))
	}
	if !p.Until.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, bound(p.Until))
	}
	if p.EntityID != "" {
		where = append(where, "entity_id = ?")
		args = append(args, p.EntityID)
	}
	if p.Status != "" {
		where = append(where, "status = ?")
		args = append(args, p.Status)
	}
	if !p.After.IsZero() {
		// The key after (or before) the cursor; the first condition keeps
		// the scan a range on the (received_at, id) indexes.
		us := micros(p.After.ReceivedAt)
		if p.Descending {
			where = append(where, "received_at <= ?", "(received_at < ? OR id < ?)")
		} else {
			where = append(where, "received_at >= ?", "(received_at > ? OR id > ?)")
		}
		args = append(args, us, us, p.After.ID)
	}
	q := "SELECT doc FROM records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if p.Descending {
		q += " ORDER BY received_at DESC, id DESC"
	} else {
		q += " ORDER BY received_at, id"
	}
	if p.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, p.Limit)
	}
	return q, args
}

// prepared returns the prepared read statement for query, preparing it on
// first use.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.scans[query]; ok {
		return st, nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.scans[query] = st
	return st, nil
}

// ScanRecords calls fn for each matching record in (ReceivedAt, ID) order,
// or the reverse when p.Descending.
func (s *Store) ScanRecords(ctx context.Context, p store.ScanParams, fn func(rec *record.Record) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	q, args := scanQuery(p)
	st, err := s.prepared(ctx, q)
	if err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	defer rows.Close()
	var dec docjson.Decoder
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan records: %w", err)
		}
		var doc sql.RawBytes
		if err := rows.Scan(&doc); err != nil {
			return fmt.Errorf("scan records: %w", err)
		}
		var rec record.Record
		if err := decodeRecordWith(&dec, doc, &rec); err != nil {
			return fmt.Errorf("scan records: %w", err)
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	return nil
}

// WriteFeedback appends fb in one transaction, in slice order, skipping the
// rows whose ID is stored already (idempotent by Feedback.ID).
func (s *Store) WriteFeedback(ctx context.Context, fb []record.Feedback) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write feedback: %w", err)
	}
	if len(fb) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, s.insertFeedback)
		for _, f := range fb {
			if _, err := stmt.ExecContext(ctx, nullable(f.ID), f.RequestID, nullable(f.EntityID), f.Label, micros(f.ReceivedAt)); err != nil {
				return fmt.Errorf("insert feedback for %q: %w", f.RequestID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write %d feedback rows: %w", len(fb), err)
	}
	return nil
}

// ScanFeedback calls fn for every feedback row in p's range, in ReceivedAt
// order and insertion order for ties.
func (s *Store) ScanFeedback(ctx context.Context, p store.FeedbackScanParams, fn func(fb record.Feedback) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan feedback: %w", err)
	}
	var where []string
	var args []any
	if !p.Since.IsZero() {
		where = append(where, "received_at >= ?")
		args = append(args, bound(p.Since))
	}
	if !p.Until.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, bound(p.Until))
	}
	q := "SELECT coalesce(id, ''), request_id, coalesce(entity_id, ''), label, received_at FROM feedback"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at, seq"
	st, err := s.prepared(ctx, q)
	if err != nil {
		return fmt.Errorf("scan feedback: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("scan feedback: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan feedback: %w", err)
		}
		var f record.Feedback
		var us int64
		if err := rows.Scan(&f.ID, &f.RequestID, &f.EntityID, &f.Label, &us); err != nil {
			return fmt.Errorf("scan feedback: %w", err)
		}
		f.ReceivedAt = time.UnixMicro(us).UTC()
		if err := fn(f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan feedback: %w", err)
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
	err := s.inChunks(ctx, p.RequestIDs, "SELECT id, id FROM records WHERE id IN (%s)", func(_, id string) {
		res.Requests[id] = true
	})
	if err != nil {
		return res, fmt.Errorf("match request ids: %w", err)
	}
	err = s.inChunks(ctx, p.EntityIDs, "SELECT entity_id, id FROM records WHERE entity_id IN (%s) ORDER BY received_at, id", func(e, id string) {
		res.Entities[e] = append(res.Entities[e], id)
	})
	if err != nil {
		return res, fmt.Errorf("match entity ids: %w", err)
	}
	return res, nil
}

// inChunks runs query (a format with one %s for the placeholders) over the
// distinct non-empty ids, matchChunk at a time, calling fn with each row's
// two text columns.
func (s *Store) inChunks(ctx context.Context, ids []string, query string, fn func(a, b string)) error {
	uniq := make([]any, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	for start := 0; start < len(uniq); start += matchChunk {
		chunk := uniq[start:min(start+matchChunk, len(uniq))]
		q := fmt.Sprintf(query, strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ","))
		rows, err := s.r.QueryContext(ctx, q, chunk...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				rows.Close()
				return err
			}
			fn(a, b)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

var _ record.OutageClassifier = (*Store)(nil)

// Unavailable reports whether err, from one of the store's writes, says
// the database file could not take writes at that moment rather than
// refusing the rows: SQLite's primary result code BUSY, LOCKED, NOMEM,
// IOERR, FULL, CANTOPEN or PROTOCOL. It makes the store a
// record.OutageClassifier (which also counts deadlines as outages).
func (s *Store) Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		switch se.Code() & 0xff { // the primary result code of an extended one
		case 5, 6, 7, 10, 13, 14, 15: // BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL
			return true
		}
	}
	return false
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1 FROM sqlite_schema LIMIT 1").Scan(&one); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("ping sqlite store %s: %w", s.path, err)
	}
	return nil
}

// Close closes the statements and connections. It is safe to call more
// than once; any other call after it returns an error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	var errs []error
	if s.stop != nil {
		s.stopOnce.Do(func() { close(s.stop) })
		<-s.ckDone
	}
	s.mu.Lock()
	for q, st := range s.scans {
		errs = append(errs, st.Close())
		delete(s.scans, q)
	}
	s.mu.Unlock()
	for _, st := range []*sql.Stmt{s.insertRecord, s.insertRecords, s.insertFeedback, s.getRecord} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, db := range []*sql.DB{s.ck, s.r, s.w} { // the last connection to close checkpoints and removes the WAL
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store %s: %w", s.path, err)
	}
	return nil
}

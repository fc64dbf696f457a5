// Package config holds the gateway's YAML configuration: the input schema,
// labels, models and their roles, deadlines, store URL, recorder limits,
// compatibility routes and the training data mapping.
//
// Load parses; Validate reports every problem at once with its YAML path
// (e.g. "models[1].deadline: must be > 0").
package config

import (
	"io/fs"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/auth"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/tlsconf"
)

// Config is the whole configuration file.
type Config struct {
	Server   Server   `yaml:"server"`
	Store    Store    `yaml:"store"`
	Recorder Recorder `yaml:"recorder"`
	// Bus is the NATS server URL (nats://host:4222) members of kind nats
	// use unless they set their own bus (docs/STREAM.md).
	Bus string `yaml:"bus"`
	// BusCredentials is a NATS credentials file (user JWT and seed, as
	// 'nsc' writes it) for every connection the gateway makes to NATS:
	// nats members and recorder.bus. A relative path resolves against the
	// configuration file's directory.
	BusCredentials string   `yaml:"bus_credentials"`
	Schema         Schema   `yaml:"schema"`
	Labels         Labels   `yaml:"labels"`
	Models         []Model  `yaml:"models"`
	Policy         Policy   `yaml:"policy"`
	Routes         []Route  `yaml:"routes"`
	Training       Training `yaml:"training"`
	Analysis       Analysis `yaml:"analysis"`
	Auth           Auth     `yaml:"auth"`
	// Promotion is the gate POST /v1/models/{name}/promote applies.
	Promotion Promotion `yaml:"promotion"`

	// Dir is the directory relative bundle paths resolve against (the
	// config file's directory); empty for the embedded example.
	Dir string `yaml:"-"`
	// FS, when not nil, holds the bundle files instead of the file system
	// (the embedded example); bundle paths are then slash paths in FS.
	FS fs.FS `yaml:"-"`
	// Source names where the configuration came from, for messages.
	Source string `yaml:"-"`
}

// Server holds HTTP settings.
type Server struct {
	Addr string `yaml:"addr"`
	// MaxBodyBytes caps a request body (413 above it).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxRecordedBodyBytes caps the raw body a rejected request's record
	// keeps (its full length and SHA-256 are kept beside it; default 64 KiB).
	MaxRecordedBodyBytes int64 `yaml:"max_recorded_body_bytes"`
	// RejectUnknownFields rejects input fields the schema does not declare.
	// (default true).
	RejectUnknownFields *bool `yaml:"reject_unknown_fields"`
	// ShutdownTimeout bounds a graceful shutdown (default 10s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxBatch caps the instances of one batch request (default 1000).
	MaxBatch int `yaml:"max_batch"`
	// MaxInFlight is the admission limit: predictions in flight at once, a
	// batch counting its instances (0: 64 × GOMAXPROCS; -1: no limit).
	// Over it a request is refused with 503 and Retry-After before any work.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxQueueWait bounds how long a request waits for admission (default
	// 2ms).
	MaxQueueWait time.Duration `yaml:"max_queue_wait"`
	// AdmissionTarget makes the admission limit adaptive: the service
	// time (admission to answer written) most admitted requests should
	// stay under. In windows of twice the target, more than a tenth of
	// single predictions over it while half the limit is in use cut the
	// limit by a quarter (not below 8 × the CPUs); other windows raise it
	// by an eighth (up to max_in_flight). Default:
	// half the production model's deadline when production is a bundle
	// and durability is async; negative (or the default elsewhere): the
	// limit stays fixed at max_in_flight.
	AdmissionTarget time.Duration `yaml:"admission_target"`
	// MaxConnections caps open client connections (default 4096; -1: no
	// cap); further connections wait in the kernel's accept queue.
	MaxConnections int `yaml:"max_connections"`
	// WriteTimeout bounds writing a response, so a client that never
	// reads cannot hold a connection (default 30s; streamed exports set
	// their own per-write deadline).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// TLS serves HTTPS (and optionally requires client certificates);
	// relative paths resolve against the configuration file's directory.
	TLS TLS `yaml:"tls"`
	// GCHeadroom paces the garbage collector: the heap may grow by this
	// many bytes over the live heap before the next collection (GC
	// percentage headroom / (live heap + stacks + globals), between 100
	// and 400; see package gctune).
	// Default 48 MiB; -1: Go's own pacing (GOGC). A GOGC environment
	// variable also leaves Go's pacing in place.
	GCHeadroom int64 `yaml:"gc_headroom"`
	// CORSOrigins lists the exact origins ("https://app.example.com")
	// whose browser pages may call the API (Access-Control-Allow-Origin,
	// preflight, and the state-changing routes' cross-origin check).
	// Empty (default): CORS is off.
	CORSOrigins []string `yaml:"cors_origins"`
}

// TLS is the server.tls section (see package tlsconf).
type TLS = tlsconf.Config

// Auth is the auth section: API tokens and their scopes (see package
// auth). Without tokens and token_file the gateway is open, which
// auth.CheckBind allows on a loopback address only. A relative token_file
// resolves against the configuration file's directory.
type Auth = auth.Config

// Store selects the record store by URL scheme.
type Store struct {
	URL            string        `yaml:"url"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// Recorder bounds the path from request to store.
type Recorder struct {
	QueueSize     int           `yaml:"queue_size"`
	BatchSize     int           `yaml:"batch_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// QueueMaxBytes bounds the in-memory queue in bytes (estimated per
	// record; default 64 MiB) as QueueSize bounds it in records.
	QueueMaxBytes int64 `yaml:"queue_max_bytes"`
	// Durability is "async" (default: the answer leaves before the record
	// is durable) or "sync" (the answer leaves once the record is committed
	// to the store or fsynced to the spool; otherwise 503). See
	// docs/DURABILITY.md.
	Durability string `yaml:"durability"`
	// SpoolDir is the disk spool's directory (default: beside a SQLite
	// store's file, "<file>.spool"; for other stores "rendezvous.spool" in
	// the working directory).
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxBytes bounds the spool's files (default 1 GiB).
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	// Bus, when set, is a NATS URL: records and feedback go to the
	// JetStream stream RENDEZVOUS_RECORDS instead of the store, and
	// 'rendezvous recorder' processes write them to the store
	// (docs/STREAM.md). The store is still read (lookups, analytics).
	Bus string `yaml:"bus"`
	// StreamMaxBytes bounds the stream's storage (default 1 GiB); a full
	// stream refuses records, which then go to the spool.
	StreamMaxBytes int64 `yaml:"stream_max_bytes"`
	// StreamMaxAge drops records older than it from the stream (default
	// 0: kept until a recorder stored them).
	StreamMaxAge time.Duration `yaml:"stream_max_age"`
	// StreamReplicas is the stream's copies in a NATS cluster (default 1).
	StreamReplicas int `yaml:"stream_replicas"`
}

// Schema declares the input.
type Schema struct {
	// EntityField names the input field that carries the entity id (optional).
	EntityField string  `yaml:"entity_field"`
	Fields      []Field `yaml:"fields"`
	// MaxStringBytes caps every string field's value in bytes unless the
	// field sets max_bytes (default 1024; 422 naming the field above it).
	MaxStringBytes int `yaml:"max_string_bytes"`
	// MaxEntityIDBytes caps a request's entity id in bytes (default 256;
	// 422 naming the field above it; see schema.CheckEntityID).
	MaxEntityIDBytes int `yaml:"max_entity_id_bytes"`
}

// Field declares one input field (schema.fields[i]); see schema.Field for
// the meaning of each key.
type Field = schema.Field

// Labels names the classes. Classes are integers; Positive is the class
// whose probability models report.
type Labels struct {
	Positive int            `yaml:"positive"`
	Words    map[int]string `yaml:"words"`
}

// Model is one live model.
type Model struct {
	Name string     `yaml:"name"`
	Role model.Role `yaml:"role"`
	// Kind is "bundle" (default), "remote", or "nats" (the default when
	// NATS is set).
	Kind string `yaml:"kind"`
	// Bundle is the bundle path (relative to the config file).
	Bundle      string        `yaml:"bundle"`
	Deadline    time.Duration `yaml:"deadline"`
	MaxInFlight int           `yaml:"max_in_flight"`
	Remote      *Remote       `yaml:"remote"`
	// NATS names the model served by 'rendezvous worker' processes on the
	// subject rendezvous.model.<NATS> (kind nats).
	NATS string `yaml:"nats"`
	// Bus is this member's NATS URL (default: the top-level bus).
	Bus string `yaml:"bus"`
}

// Remote configures a model served over HTTP.
type Remote struct {
	Protocol string `yaml:"protocol"` // oip-v2 | mlflow
	URL      string `yaml:"url"`
	Model    string `yaml:"model"`
	Version  string `yaml:"version"`
	// Headers values name environment variables ("env:TOKEN") or are literal.
	Headers map[string]string `yaml:"headers"`
	// Pipeline, when set, names a bundle whose feature pipeline runs before
	// the call; otherwise the raw input is sent.
	Pipeline        string         `yaml:"pipeline"`
	ProbabilityOut  string         `yaml:"probability_output"`
	ClassOut        string         `yaml:"class_output"`
	BreakerFailures int            `yaml:"breaker_failures"`
	BreakerCooldown time.Duration  `yaml:"breaker_cooldown"`
	Extra           map[string]any `yaml:"extra"`
}

// Policy decides which answer the caller gets.
type Policy struct {
	// Fallback lists model names tried in order when production fails or
	// misses its deadline (default: the canary).
	Fallback []string `yaml:"fallback"`
	// OverallDeadline: nothing qualified by then → 503.
	OverallDeadline time.Duration `yaml:"overall_deadline"`
}

// Route is a compatibility route that maps a legacy request/response shape
// onto the rendezvous (the original service's /singletitanicpred/ etc.).
type Route struct {
	Path string `yaml:"path"`
	// Kind is "single" (one JSON object) or "batch" (a JSON array).
	Kind string `yaml:"kind"`
	// Fields maps request keys to schema fields (identity when absent).
	Fields map[string]string `yaml:"fields"`
	// Defaults are applied for absent request keys.
	Defaults map[string]any `yaml:"defaults"`
	// EntityKey is the request key carrying the entity id.
	EntityKey string `yaml:"entity_key"`
	// Response maps response keys to values: "$entity_id", "$prediction",
	// "$label", "$probability", "$request_id", "$served_by".
	Response map[string]string `yaml:"response"`
	// ResponseOrder fixes the key order of Response in the body.
	ResponseOrder []string `yaml:"response_order"`
	// BatchKey wraps batch results ("results").
	BatchKey string `yaml:"batch_key"`
}

// Training maps a training CSV onto the schema.
type Training struct {
	// Columns maps CSV column → input field.
	Columns map[string]string `yaml:"columns"`
	// IDColumn holds the entity id; LabelColumn the class.
	IDColumn    string `yaml:"id_column"`
	LabelColumn string `yaml:"label_column"`
}

// Analysis holds thresholds for comparisons and drift.
// Promotion configures the promotion gate. Every rule also needs
// analysis.min_labelled_pairs labelled pairs.
type Promotion struct {
	// Require is not_production_better (default: refuse only when
	// production is significantly better), not_worse (the 95 % interval's
	// lower bound above −margin) or challenger_better.
	Require string `yaml:"require"`
	// Margin is not_worse's non-inferiority margin as a share of accuracy
	// (default 0.02: two accuracy points).
	Margin float64 `yaml:"margin"`
	// MaxP99Latency, when set, refuses a challenger whose live p99 latency
	// is above it.
	MaxP99Latency time.Duration `yaml:"max_p99_latency"`
	// CountReplay lets the gate judge a challenger that has no live answer
	// on its replay results (rendezvous replay); the deployment event's
	// gate figures say so (counted_replay).
	CountReplay bool `yaml:"count_replay"`
}

// DefaultPromotionMargin is promotion.margin when unset.
const DefaultPromotionMargin = 0.02

type Analysis struct {
	// MinLabelledPairs before /v1/compare gives a verdict (default 200).
	MinLabelledPairs int `yaml:"min_labelled_pairs"`
	// DriftMinSample: a drift column with fewer current values gets the
	// verdict insufficient_data (default 30; -1: no minimum).
	DriftMinSample int `yaml:"drift_min_sample"`
}

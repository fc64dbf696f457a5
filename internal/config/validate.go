package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// Defaults applied by ApplyDefaults to zero values.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxRecordedBody = 64 << 10
	DefaultMaxConnections  = 4096
	DefaultGCHeadroom      = 48 << 20
	DefaultWriteTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultMaxBatch        = 1000
	DefaultStoreURL        = "sqlite://./rendezvous.db"
	DefaultConnectTimeout  = 5 * time.Second
	DefaultQueueSize       = 100_000
	DefaultBatchSize       = 512
	DefaultFlushInterval   = 50 * time.Millisecond
	DefaultQueueMaxBytes   = 64 << 20
	DefaultSpoolMaxBytes   = 1 << 30
	// DefaultStreamMaxBytes is recorder.stream_max_bytes's default.
	DefaultStreamMaxBytes   = 1 << 30
	DefaultSpoolDir         = "rendezvous.spool"
	DurabilityAsync         = "async"
	DurabilitySync          = "sync"
	DefaultModelDeadline    = 50 * time.Millisecond
	DefaultMaxInFlight      = 1024
	DefaultBatchKey         = "results"
	DefaultMinLabelledPairs = 200
	// DefaultDriftMinSample is analysis.drift_min_sample's default.
	DefaultDriftMinSample  = 30
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 10 * time.Second

	KindBundle = "bundle"
	KindRemote = "remote"
	KindNATS   = "nats"

	RouteSingle = "single"
	RouteBatch  = "batch"
)

// ResponseValues are the placeholders a compatibility route's response may
// map keys to; any other value not starting with "$" is a literal string.
var ResponseValues = []string{"$entity_id", "$prediction", "$label", "$probability", "$request_id", "$served_by", "$fallback"}

// reservedPrefixes are the gateway's own routes; compatibility routes may
// not shadow them.
var reservedPrefixes = []string{"/v1/", "/v2/", "/healthz", "/readyz", "/metrics", "/openapi.json"}

// ApplyDefaults sets every zero value that has a default. It is idempotent.
func (c *Config) ApplyDefaults() {
	s := &c.Server
	if s.Addr == "" {
		s.Addr = DefaultAddr
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxRecordedBodyBytes == 0 {
		s.MaxRecordedBodyBytes = DefaultMaxRecordedBody
	}
	if s.RejectUnknownFields == nil {
		t := true
		s.RejectUnknownFields = &t
	}
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = DefaultShutdownTimeout
	}
	if s.MaxBatch == 0 {
		s.MaxBatch = DefaultMaxBatch
	}
	if s.MaxConnections == 0 {
		s.MaxConnections = DefaultMaxConnections
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = DefaultWriteTimeout
	}
	if s.GCHeadroom == 0 {
		s.GCHeadroom = DefaultGCHeadroom
	}
	if c.Store.URL == "" {
		c.Store.URL = DefaultStoreURL
	}
	if c.Store.ConnectTimeout == 0 {
		c.Store.ConnectTimeout = DefaultConnectTimeout
	}
	r := &c.Recorder
	if r.QueueSize == 0 {
		r.QueueSize = DefaultQueueSize
	}
	if r.BatchSize == 0 {
		r.BatchSize = DefaultBatchSize
	}
	if r.FlushInterval == 0 {
		r.FlushInterval = DefaultFlushInterval
	}
	if r.QueueMaxBytes == 0 {
		r.QueueMaxBytes = DefaultQueueMaxBytes
	}
	if r.Durability == "" {
		r.Durability = DurabilityAsync
	}
	if r.SpoolMaxBytes == 0 {
		r.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if r.StreamMaxBytes == 0 {
		r.StreamMaxBytes = DefaultStreamMaxBytes
	}
	if r.StreamReplicas == 0 {
		r.StreamReplicas = 1
	}
	if r.SpoolDir == "" {
		r.SpoolDir = DefaultSpoolDirFor(c.Store.URL)
	}
	for i := range c.Models {
		m := &c.Models[i]
		if m.Kind == "" {
			m.Kind = KindBundle
			switch {
			case m.Remote != nil && m.Bundle == "":
				m.Kind = KindRemote
			case m.NATS != "" && m.Bundle == "":
				m.Kind = KindNATS
			}
		}
		if m.Deadline == 0 {
			m.Deadline = DefaultModelDeadline
		}
		if m.MaxInFlight == 0 {
			m.MaxInFlight = DefaultMaxInFlight
		}
		if rm := m.Remote; rm != nil {
			if rm.BreakerFailures == 0 {
				rm.BreakerFailures = DefaultBreakerFailures
			}
			if rm.BreakerCooldown == 0 {
				rm.BreakerCooldown = DefaultBreakerCooldown
			}
		}
	}
	for i := range c.Routes {
		rt := &c.Routes[i]
		if rt.Kind == "" {
			rt.Kind = RouteSingle
		}
		if rt.Kind == RouteBatch && rt.BatchKey == "" {
			rt.BatchKey = DefaultBatchKey
		}
	}
	if c.Analysis.MinLabelledPairs == 0 {
		c.Analysis.MinLabelledPairs = DefaultMinLabelledPairs
	}
	if c.Analysis.DriftMinSample == 0 {
		c.Analysis.DriftMinSample = DefaultDriftMinSample
	}
	if c.Schema.MaxStringBytes == 0 {
		c.Schema.MaxStringBytes = schema.DefaultMaxStringBytes
	}
	if c.Schema.MaxEntityIDBytes == 0 {
		c.Schema.MaxEntityIDBytes = schema.DefaultMaxEntityIDBytes
	}
	if c.Promotion.Require == "" {
		c.Promotion.Require = "not_production_better"
	}
	if c.Promotion.Margin == 0 {
		c.Promotion.Margin = DefaultPromotionMargin
	}
	if s.AdmissionTarget == 0 {
		s.AdmissionTarget = c.defaultAdmissionTarget()
	}
}

// defaultAdmissionTarget is server.admission_target's default: half the
// production model's deadline when production runs in this process and
// answers do not wait for durability — then a request's service time is
// CPU time and queueing, which a smaller admission limit shortens. A
// remote production model's latency is not ours to shorten, and sync
// durability adds the flush wait to every answer, so there the limit
// stays fixed (-1) unless a target is set.
func (c *Config) defaultAdmissionTarget() time.Duration {
	if c.Recorder.Durability == DurabilitySync {
		return -1
	}
	for _, m := range c.Models {
		if m.Role == model.RoleProduction && m.Kind == KindBundle && m.Deadline > 0 {
			return m.Deadline / 2
		}
	}
	return -1
}

// minSpoolMaxBytes is the smallest spool_max_bytes accepted: a spool needs
// room for a few segments of batches.
const minSpoolMaxBytes = 1 << 20

// DefaultSpoolDirFor is recorder.spool_dir's default for a store URL:
// beside a SQLite store's file ("<file>.spool"), else DefaultSpoolDir in
// the working directory.
func DefaultSpoolDirFor(storeURL string) string {
	if p := sqlitePath(storeURL); p != "" {
		return p + ".spool"
	}
	return DefaultSpoolDir
}

// sqlitePath returns the file a sqlite store URL names ("" for other
// stores or a URL that does not parse; the store reports those).
func sqlitePath(storeURL string) string {
	cfg, err := sqlite.ParseURL(storeURL)
	if err != nil {
		return ""
	}
	return cfg.Path
}

// problems accumulates Problems.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Validate checks the whole configuration (call ApplyDefaults first) and
// returns a *ValidationError listing every problem with its YAML path, or
// nil. Bundle paths are checked to exist.
func (c *Config) Validate() error {
	var ps problems
	c.validateServer(&ps)
	c.validateSchema(&ps)
	c.validateLabels(&ps)
	c.validateModels(&ps)
	if c.Bus != "" {
		checkBusURL(&ps, "bus", c.Bus)
	}
	if c.BusCredentials != "" && c.FS == nil {
		if _, err := os.Stat(c.BundlePath(c.BusCredentials)); err != nil {
			ps.add("bus_credentials", "cannot read the NATS credentials file: %v", err)
		}
	}
	c.validatePolicy(&ps)
	c.validateRoutes(&ps)
	c.validateTraining(&ps)
	c.validateAccess(&ps)
	if c.Analysis.MinLabelledPairs < 0 {
		ps.add("analysis.min_labelled_pairs", "must be > 0")
	}
	if c.Analysis.DriftMinSample < -1 {
		ps.add("analysis.drift_min_sample", "must be > 0, or -1 for no minimum")
	}
	switch c.Promotion.Require {
	case "", "not_production_better", "not_worse", "challenger_better":
	default:
		ps.add("promotion.require", "%q: must be not_production_better, not_worse or challenger_better", c.Promotion.Require)
	}
	if c.Promotion.Margin < 0 || c.Promotion.Margin >= 1 {
		ps.add("promotion.margin", "%v: must be a share of accuracy in [0, 1), e.g. 0.02 for two points", c.Promotion.Margin)
	}
	if c.Promotion.MaxP99Latency < 0 {
		ps.add("promotion.max_p99_latency", "must be > 0")
	}
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Source: c.Source, Problems: ps}
}

func (c *Config) validateServer(ps *problems) {
	s := c.Server
	if _, port, ok := strings.Cut(s.Addr, ":"); !ok || port == "" {
		ps.add("server.addr", "must be host:port, got %q", s.Addr)
	}
	if s.MaxBodyBytes <= 0 {
		ps.add("server.max_body_bytes", "must be > 0")
	}
	if s.MaxInFlight < -1 {
		ps.add("server.max_in_flight", "must be -1 (no limit), 0 (64 × the CPUs) or a limit > 0, got %d", s.MaxInFlight)
	}
	if s.MaxQueueWait < 0 {
		ps.add("server.max_queue_wait", "must be >= 0, got %v", s.MaxQueueWait)
	}
	if s.MaxConnections < -1 {
		ps.add("server.max_connections", "must be -1 (no cap) or > 0, got %d", s.MaxConnections)
	}
	if s.GCHeadroom < -1 || s.GCHeadroom > 0 && s.GCHeadroom < 1<<20 {
		ps.add("server.gc_headroom", "must be -1 (Go's own pacing) or at least 1048576 bytes (1 MiB), got %d", s.GCHeadroom)
	}
	if s.WriteTimeout < 0 {
		ps.add("server.write_timeout", "must be > 0, got %v", s.WriteTimeout)
	}
	if s.MaxRecordedBodyBytes < 0 {
		ps.add("server.max_recorded_body_bytes", "must be >= 0 (0 selects %d)", DefaultMaxRecordedBody)
	}
	if s.ShutdownTimeout < 0 {
		ps.add("server.shutdown_timeout", "must be > 0")
	}
	if s.MaxBatch < 0 {
		ps.add("server.max_batch", "must be > 0")
	}
	seen := map[string]bool{}
	for i, o := range s.CORSOrigins {
		key := fmt.Sprintf("server.cors_origins[%d]", i)
		if msg := checkOrigin(o); msg != "" {
			ps.add(key, "%s, got %q", msg, o)
		} else if seen[o] {
			ps.add(key, "duplicate origin %q", o)
		}
		seen[o] = true
	}
	if u, err := url.Parse(c.Store.URL); err != nil || u.Scheme == "" {
		ps.add("store.url", "must be a URL such as sqlite:///path/file.db, postgres://host/db or mongodb://host/db")
	}
	if c.Store.ConnectTimeout < 0 {
		ps.add("store.connect_timeout", "must be > 0")
	}
	r := c.Recorder
	if r.QueueSize < 0 {
		ps.add("recorder.queue_size", "must be > 0")
	}
	if r.BatchSize < 0 {
		ps.add("recorder.batch_size", "must be > 0")
	}
	if r.BatchSize > r.QueueSize && r.QueueSize > 0 {
		ps.add("recorder.batch_size", "must be <= recorder.queue_size (%d), got %d", r.QueueSize, r.BatchSize)
	}
	if r.FlushInterval < 0 {
		ps.add("recorder.flush_interval", "must be > 0")
	}
	if r.QueueMaxBytes < 0 {
		ps.add("recorder.queue_max_bytes", "must be > 0")
	}
	if r.Durability != DurabilityAsync && r.Durability != DurabilitySync {
		ps.add("recorder.durability", "must be %q or %q, got %q", DurabilityAsync, DurabilitySync, r.Durability)
	}
	if r.SpoolMaxBytes < 0 {
		ps.add("recorder.spool_max_bytes", "must be > 0")
	} else if r.SpoolMaxBytes > 0 && r.SpoolMaxBytes < minSpoolMaxBytes {
		ps.add("recorder.spool_max_bytes", "must be at least %d (1 MiB), got %d", minSpoolMaxBytes, r.SpoolMaxBytes)
	}
	if r.Bus != "" {
		checkBusURL(ps, "recorder.bus", r.Bus)
	}
	if r.StreamMaxBytes < 0 {
		ps.add("recorder.stream_max_bytes", "must be > 0")
	}
	if r.StreamMaxAge < 0 {
		ps.add("recorder.stream_max_age", "must be >= 0 (0: no age limit)")
	}
	if r.StreamReplicas < 0 || r.StreamReplicas > 5 {
		ps.add("recorder.stream_replicas", "must be between 1 and 5, got %d", r.StreamReplicas)
	}
	if r.SpoolDir != "" && c.Store.URL != "" && filepath.Clean(r.SpoolDir) == filepath.Clean(sqlitePath(c.Store.URL)) {
		ps.add("recorder.spool_dir", "must not be the SQLite store's file %q", r.SpoolDir)
	}
}

// validateAccess checks server.tls and auth.
func (c *Config) validateAccess(ps *problems) {
	if c.FS == nil {
		for _, p := range c.Server.TLS.Problems() {
			ps.add("server.tls."+p.Key, "%s", p.Message)
		}
	} else if c.Server.TLS.Enabled() {
		ps.add("server.tls", "not available for an embedded configuration")
	}
	for _, p := range c.Auth.Problems() {
		ps.add("auth."+p.Key, "%s", p.Message)
	}
	if f := c.Auth.TokenFile; f != "" && c.FS == nil {
		if _, err := os.Stat(f); err != nil {
			ps.add("auth.token_file", "cannot read %s: %v (create it with rendezvous token create --file %s)", f, unwrapPathErr(err), f)
		}
	}
}

func (c *Config) validateSchema(ps *problems) {
	if c.Schema.MaxStringBytes < 0 {
		ps.add("schema.max_string_bytes", "must be > 0")
	}
	if c.Schema.MaxEntityIDBytes < 0 {
		ps.add("schema.max_entity_id_bytes", "must be > 0")
	}
	fields := c.Schema.Fields
	if len(fields) == 0 {
		ps.add("schema.fields", "at least one field is required")
	}
	seen := map[string]int{}
	for i, f := range fields {
		base := fmt.Sprintf("schema.fields[%d]", i)
		for _, p := range f.Problems() {
			ps.add(base+"."+p.Field, "%s", p.Problem)
		}
		if j, dup := seen[f.Name]; dup && f.Name != "" {
			ps.add(base+".name", "%q is already declared by schema.fields[%d]", f.Name, j)
		} else {
			seen[f.Name] = i
		}
	}
	if ef := c.Schema.EntityField; ef != "" {
		f, ok := c.field(ef)
		switch {
		case !ok:
			ps.add("schema.entity_field", "%q is not a declared field (have %s)", ef, c.fieldNames())
		case f.Type != schema.TypeString && f.Type != schema.TypeInteger:
			ps.add("schema.entity_field", "must name a string or integer field, %q is %s", ef, f.Type)
		}
	}
}

func (c *Config) validateLabels(ps *problems) {
	l := c.Labels
	if len(l.Words) < 2 {
		ps.add("labels.words", "must name at least two classes (e.g. 0: negative word, 1: positive word)")
	}
	if _, ok := l.Words[l.Positive]; !ok && len(l.Words) > 0 {
		ps.add("labels.positive", "class %d has no word in labels.words", l.Positive)
	}
	for k, w := range l.Words {
		if strings.TrimSpace(w) == "" {
			ps.add(fmt.Sprintf("labels.words.%d", k), "must not be empty")
		}
	}
}

func (c *Config) validateModels(ps *problems) {
	if len(c.Models) == 0 {
		ps.add("models", "at least one model (the production model) is required")
		return
	}
	names := map[string]int{}
	var prod, canary []int
	for i, m := range c.Models {
		base := fmt.Sprintf("models[%d]", i)
		switch {
		case m.Name == "":
			ps.add(base+".name", "required")
		case !modelNameOK(m.Name):
			ps.add(base+".name", "must be 1-64 characters of [A-Za-z0-9._-], got %q", m.Name)
		}
		if j, dup := names[m.Name]; dup && m.Name != "" {
			ps.add(base+".name", "%q is already used by models[%d]", m.Name, j)
		} else {
			names[m.Name] = i
		}
		switch {
		case m.Role == model.RoleProduction:
			prod = append(prod, i)
		case m.Role == model.RoleCanary:
			canary = append(canary, i)
		case m.Role == "":
			ps.add(base+".role", "required (want production, canary, challenger)")
		case !m.Role.Valid():
			ps.add(base+".role", "unknown role %q (want production, canary, challenger)", string(m.Role))
		}
		if m.Deadline <= 0 {
			ps.add(base+".deadline", "must be > 0")
		}
		if m.MaxInFlight <= 0 {
			ps.add(base+".max_in_flight", "must be > 0")
		}
		switch m.Kind {
		case KindBundle:
			if m.Bundle == "" {
				ps.add(base+".bundle", "required for a bundle model")
			} else if err := c.bundleExists(m.Bundle); err != nil {
				ps.add(base+".bundle", "cannot open %s: %v", c.BundlePath(m.Bundle), unwrapPathErr(err))
			}
			if m.Remote != nil {
				ps.add(base+".remote", "only for kind: remote")
			}
			if m.NATS != "" {
				ps.add(base+".nats", "only for kind: nats")
			}
		case KindNATS:
			c.validateNATS(ps, base, &m)
		case KindRemote:
			c.validateRemote(ps, base+".remote", m.Remote)
			if m.Bundle != "" {
				ps.add(base+".bundle", "not used by kind: remote (use remote.pipeline for a feature pipeline)")
			}
		default:
			ps.add(base+".kind", "unknown kind %q (want bundle, remote, nats)", m.Kind)
		}
	}
	switch {
	case len(prod) == 0:
		ps.add("models", "exactly one model must have role: production, found none")
	case len(prod) > 1:
		ps.add(fmt.Sprintf("models[%d].role", prod[1]), "exactly one model may have role: production, models[%d] already has it", prod[0])
	}
	if len(canary) > 1 {
		ps.add(fmt.Sprintf("models[%d].role", canary[1]), "at most one model may have role: canary, models[%d] already has it", canary[0])
	}
}

// natsNameRE is what a NATS subject token and service name may hold.
var natsNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// validateNATS checks a member of kind nats: a worker name that can be a
// subject token, and a bus URL (its own or the top-level one).
func (c *Config) validateNATS(ps *problems, base string, m *Model) {
	switch {
	case m.NATS == "":
		ps.add(base+".nats", "required for kind: nats (the name 'rendezvous worker --name' serves)")
	case !natsNameRE.MatchString(m.NATS):
		ps.add(base+".nats", "%q: want letters, digits, '-' or '_' only (it becomes the subject rendezvous.model.<name>)", m.NATS)
	}
	if m.Bundle != "" {
		ps.add(base+".bundle", "not used by kind: nats (the worker loads the bundle)")
	}
	if m.Remote != nil {
		ps.add(base+".remote", "only for kind: remote")
	}
	switch {
	case m.Bus != "":
		checkBusURL(ps, base+".bus", m.Bus)
	case c.Bus == "":
		ps.add(base+".bus", "required for kind: nats unless the top-level bus is set (e.g. bus: nats://127.0.0.1:4222)")
	}
}

// checkBusURL checks a comma-separated list of NATS URLs.
func checkBusURL(ps *problems, path, raw string) {
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
			ps.add(path, "must be a nats://HOST:PORT URL (or tls://, ws://, wss://), got %q", one)
			return
		}
	}
}

func (c *Config) validateRemote(ps *problems, base string, r *Remote) {
	if r == nil {
		ps.add(base, "required for kind: remote")
		return
	}
	switch r.Protocol {
	case "oip-v2", "mlflow":
	case "":
		ps.add(base+".protocol", "required (want oip-v2, mlflow)")
	default:
		ps.add(base+".protocol", "unknown protocol %q (want oip-v2, mlflow)", r.Protocol)
	}
	if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.add(base+".url", "must be an http:// or https:// URL, got %q", r.URL)
	}
	if r.Protocol == "oip-v2" && r.Model == "" {
		ps.add(base+".model", "required for protocol oip-v2 (the remote model name)")
	}
	if r.Pipeline != "" {
		if err := c.bundleExists(r.Pipeline); err != nil {
			ps.add(base+".pipeline", "cannot open %s: %v", c.BundlePath(r.Pipeline), unwrapPathErr(err))
		}
	}
	if r.BreakerFailures < 0 {
		ps.add(base+".breaker_failures", "must be > 0")
	}
	if r.BreakerCooldown < 0 {
		ps.add(base+".breaker_cooldown", "must be > 0")
	}
}

func (c *Config) validatePolicy(ps *problems) {
	seen := map[string]bool{}
	for i, name := range c.Policy.Fallback {
		p := fmt.Sprintf("policy.fallback[%d]", i)
		m, ok := c.model(name)
		switch {
		case !ok:
			ps.add(p, "%q is not a configured model (have %s)", name, c.modelNames())
		case m.Role == model.RoleProduction:
			ps.add(p, "%q is the production model; fallbacks are the models tried when it fails", name)
		case seen[name]:
			ps.add(p, "%q is listed twice", name)
		}
		seen[name] = true
	}
	if c.Policy.OverallDeadline < 0 {
		ps.add("policy.overall_deadline", "must be > 0")
	}
}

func (c *Config) validateRoutes(ps *problems) {
	paths := map[string]int{}
	for i, rt := range c.Routes {
		base := fmt.Sprintf("routes[%d]", i)
		switch {
		case !strings.HasPrefix(rt.Path, "/"):
			ps.add(base+".path", "must start with /, got %q", rt.Path)
		case strings.ContainsAny(rt.Path, "{} \t?#"):
			ps.add(base+".path", "must be a plain path without {, }, spaces, ? or #, got %q", rt.Path)
		case reserved(rt.Path):
			ps.add(base+".path", "%q collides with the gateway's own routes (%s)", rt.Path, strings.Join(reservedPrefixes, ", "))
		}
		norm := strings.TrimSuffix(rt.Path, "/")
		if j, dup := paths[norm]; dup {
			ps.add(base+".path", "%q is already routed by routes[%d]", rt.Path, j)
		} else {
			paths[norm] = i
		}
		switch rt.Kind {
		case RouteSingle:
			if rt.BatchKey != "" {
				ps.add(base+".batch_key", "only for kind: batch")
			}
		case RouteBatch:
		default:
			ps.add(base+".kind", "unknown kind %q (want single, batch)", rt.Kind)
		}
		mapped := map[string]string{}
		for _, k := range sortedKeys(rt.Fields) {
			f := rt.Fields[k]
			if _, ok := c.field(f); !ok {
				ps.add(base+".fields."+k, "%q is not a declared field (have %s)", f, c.fieldNames())
			}
			if prev, dup := mapped[f]; dup {
				ps.add(base+".fields."+k, "field %q is already mapped from %q", f, prev)
			}
			mapped[f] = k
		}
		for _, k := range sortedKeys(rt.Defaults) {
			fname := rt.fieldFor(k)
			f, ok := c.field(fname)
			switch {
			case ok:
				if _, p := f.Check(rt.Defaults[k]); p != "" && rt.Defaults[k] != nil {
					ps.add(base+".defaults."+k, "%s", p)
				}
			case k == rt.EntityKey:
			default:
				ps.add(base+".defaults."+k, "%q is neither a declared field nor the entity_key", k)
			}
		}
		if len(rt.Response) == 0 {
			ps.add(base+".response", "at least one response key is required")
		}
		for _, k := range sortedKeys(rt.Response) {
			v := rt.Response[k]
			if strings.HasPrefix(v, "$") && !slices.Contains(ResponseValues, v) {
				ps.add(base+".response."+k, "unknown value %q (want %s, or a literal)", v, strings.Join(ResponseValues, ", "))
			}
			if v == "$entity_id" && rt.EntityKey == "" && c.Schema.EntityField == "" {
				ps.add(base+".response."+k, "$entity_id needs entity_key (or schema.entity_field)")
			}
		}
		if len(rt.ResponseOrder) > 0 {
			listed := map[string]bool{}
			for j, k := range rt.ResponseOrder {
				if _, ok := rt.Response[k]; !ok {
					ps.add(fmt.Sprintf("%s.response_order[%d]", base, j), "%q is not a key of response", k)
				}
				if listed[k] {
					ps.add(fmt.Sprintf("%s.response_order[%d]", base, j), "%q is listed twice", k)
				}
				listed[k] = true
			}
			for _, k := range sortedKeys(rt.Response) {
				if !listed[k] {
					ps.add(base+".response_order", "does not list response key %q", k)
				}
			}
		}
	}
}

func (c *Config) validateTraining(ps *problems) {
	t := c.Training
	if len(t.Columns) == 0 && t.IDColumn == "" && t.LabelColumn == "" {
		return // no training mapping: fine for a gateway with remote models
	}
	if t.LabelColumn == "" {
		ps.add("training.label_column", "required when training.columns is set")
	}
	mapped := map[string]string{}
	for _, col := range sortedKeys(t.Columns) {
		f := t.Columns[col]
		if _, ok := c.field(f); !ok {
			ps.add("training.columns."+col, "%q is not a declared field (have %s)", f, c.fieldNames())
		}
		if prev, dup := mapped[f]; dup {
			ps.add("training.columns."+col, "field %q is already mapped from column %q", f, prev)
		}
		mapped[f] = col
	}
	for _, f := range c.Schema.Fields {
		if f.Required && f.Name != "" && mapped[f.Name] == "" && len(t.Columns) > 0 {
			ps.add("training.columns", "required field %q has no column", f.Name)
		}
	}
}

// fieldFor maps a request key of the route to its schema field name.
func (rt Route) fieldFor(key string) string {
	if f, ok := rt.Fields[key]; ok {
		return f
	}
	return key
}

// RequestKeyFor returns the route's request key of schema field f.
func (rt Route) RequestKeyFor(f string) string {
	for k, v := range rt.Fields {
		if v == f {
			return k
		}
	}
	return f
}

// FieldFor maps a request key of the route to its schema field name
// (identity when the route does not map it).
func (rt Route) FieldFor(key string) string { return rt.fieldFor(key) }

// Order returns the response keys in output order.
func (rt Route) Order() []string {
	if len(rt.ResponseOrder) > 0 {
		return rt.ResponseOrder
	}
	return sortedKeys(rt.Response)
}

func (c *Config) field(name string) (Field, bool) {
	for _, f := range c.Schema.Fields {
		if f.Name == name && name != "" {
			return f, true
		}
	}
	return Field{}, false
}

func (c *Config) fieldNames() string {
	var ns []string
	for _, f := range c.Schema.Fields {
		ns = append(ns, f.Name)
	}
	return strings.Join(ns, ", ")
}

func (c *Config) model(name string) (Model, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

func (c *Config) modelNames() string {
	var ns []string
	for _, m := range c.Models {
		ns = append(ns, m.Name)
	}
	return strings.Join(ns, ", ")
}

func modelNameOK(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func reserved(p string) bool {
	for _, r := range reservedPrefixes {
		if p == strings.TrimSuffix(r, "/") || strings.HasPrefix(p, r) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func unwrapPathErr(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}

// checkOrigin returns why o is not an exact browser origin
// (scheme://host[:port], http or https, nothing after) or "".
func checkOrigin(o string) string {
	const want = "must be an exact origin such as https://app.example.com (scheme://host[:port], no path, no wildcard)"
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") ||
		strings.Contains(u.Host, "*") || o != strings.ToLower(u.Scheme)+"://"+u.Host {
		return want
	}
	return ""
}

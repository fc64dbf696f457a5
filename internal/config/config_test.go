package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
)

// exampleDir writes the Titanic example configuration into a temporary
// directory with placeholder bundle files (validation only checks that
// bundles exist) and returns the configuration's path.
func exampleDir(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../examples/titanic/rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"prod-gbt", "canary-rule", "dev-logreg"} {
		if err := os.WriteFile(filepath.Join(dir, "models", n+".json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "rendezvous.yaml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_ExampleConfigIsValidAndResolvesBundlesNextToIt(t *testing.T) {
	p := exampleDir(t)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.BundlePath(c.Models[0].Bundle), filepath.Join(filepath.Dir(p), "models", "prod-gbt.json"); got != want {
		t.Errorf("bundle path %q, want %q", got, want)
	}
	if b, err := c.ReadBundle(c.Models[1].Bundle); err != nil || string(b) != "{}" {
		t.Errorf("ReadBundle: %q, %v", b, err)
	}
	if len(c.Schema.Fields) != 7 || len(c.Models) != 3 || len(c.Routes) != 2 {
		t.Errorf("unexpected shape: %d fields, %d models, %d routes", len(c.Schema.Fields), len(c.Models), len(c.Routes))
	}
	if v, err := c.Validator(); err != nil || len(v.Fields()) != 7 {
		t.Errorf("Validator: %v", err)
	}
}

func TestLoadFS_ReadsBundlesFromTheFS(t *testing.T) {
	data, err := os.ReadFile("../../examples/titanic/rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"ex/rendezvous.yaml":         {Data: data},
		"ex/models/prod-gbt.json":    {Data: []byte("prod")},
		"ex/models/canary-rule.json": {Data: []byte("canary")},
		"ex/models/dev-logreg.json":  {Data: []byte("dev")},
	}
	c, err := LoadFS(fsys, "ex/rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := c.ReadBundle("models/canary-rule.json"); err != nil || string(b) != "canary" {
		t.Fatalf("ReadBundle: %q, %v", b, err)
	}
}

func TestApplyDefaults_FillsZeroValues(t *testing.T) {
	c := &Config{Models: []Model{{Name: "m"}}, Routes: []Route{{Path: "/x", Kind: RouteBatch}}}
	c.ApplyDefaults()
	if c.Server.Addr != DefaultAddr || c.Server.MaxBodyBytes != 1<<20 || !c.RejectUnknown() ||
		c.Store.URL != DefaultStoreURL || c.Recorder.QueueSize != 100_000 || c.Recorder.BatchSize != 512 ||
		c.Recorder.FlushInterval != 50*time.Millisecond || c.Models[0].Deadline != 50*time.Millisecond ||
		c.Models[0].Kind != KindBundle || c.Models[0].MaxInFlight != 1024 || c.Routes[0].BatchKey != "results" ||
		c.Analysis.MinLabelledPairs != 200 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestLoadBytes_RejectsUnknownKeysWithLineNumbers(t *testing.T) {
	_, err := LoadBytes([]byte("server:\n  addr: 127.0.0.1:1\n  adress: x\nmodels:\n  - name: a\n    deadlin: 5ms\n"), "")
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{
		`server.adress: unknown key "adress" (line 3)`,
		`models[0].deadlin: unknown key "deadlin" (line 6)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestLoadBytes_ReportsTypeErrorsWithLineNumbers(t *testing.T) {
	_, err := LoadBytes([]byte("recorder:\n  flush_interval: soon\n"), "")
	if err == nil || !strings.Contains(err.Error(), "recorder.flush_interval: cannot unmarshal !!str `soon` into time.Duration (line 2)") {
		t.Fatalf("got %v", err)
	}
}

// TestValidate_ReportsEveryProblemAtOnceWithItsPath feeds one configuration
// with a problem in every section and expects each, with its line.
func TestValidate_ReportsEveryProblemAtOnceWithItsPath(t *testing.T) {
	const bad = `server:
  addr: nowhere
  max_body_bytes: -1
store:
  url: rendezvous.db
recorder:
  queue_size: 10
  batch_size: 20
schema:
  entity_field: ghost
  fields:
    - name: age
      type: flaot
    - name: age
      type: number
      min: 10
      max: 1
    - name: embarked
      type: string
      allowed: [S, C, 3]
labels:
  positive: 2
  words: {0: no, 1: yes}
models:
  - name: prod
    role: production
    bundle: models/missing.json
  - name: prod
    role: production
    bundle: models/missing.json
    deadline: -5ms
  - name: r
    role: boss
    kind: remote
    remote: {protocol: grpc, url: "ftp://x"}
policy:
  fallback: [prod, nobody]
routes:
  - path: /v1/predict
    kind: both
    fields: {Age: agee}
    defaults: {embarked: X}
    response: {a: $nope}
    response_order: [a, b]
training:
  columns: {Age: age, Pclass: pclass}
`
	_, err := LoadBytes([]byte(bad), t.TempDir())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	want := []string{
		`server.addr: must be host:port, got "nowhere" (line 2)`,
		`server.max_body_bytes: must be > 0 (line 3)`,
		`store.url: must be a URL such as sqlite:///path/file.db`,
		`recorder.batch_size: must be <= recorder.queue_size (10), got 20 (line 8)`,
		`schema.fields[0].type: unknown type "flaot" (want integer, number, string, boolean) (line 13)`,
		`schema.fields[1].max: must be >= min (10), got 1 (line 17)`,
		`schema.fields[1].name: "age" is already declared by schema.fields[0] (line 14)`,
		`schema.fields[2].allowed[2]: must be a string, got 3 (line 20)`,
		`schema.entity_field: "ghost" is not a declared field (have age, age, embarked) (line 10)`,
		`labels.positive: class 2 has no word in labels.words (line 22)`,
		`models[0].bundle: cannot open `,
		`models[1].name: "prod" is already used by models[0] (line 28)`,
		`models[1].deadline: must be > 0 (line 31)`,
		`models[2].role: unknown role "boss" (want production, canary, challenger) (line 33)`,
		`models[2].remote.protocol: unknown protocol "grpc" (want oip-v2, mlflow) (line 35)`,
		`models[2].remote.url: must be an http:// or https:// URL, got "ftp://x" (line 35)`,
		`models[1].role: exactly one model may have role: production, models[0] already has it (line 29)`,
		`policy.fallback[0]: "prod" is the production model`,
		`policy.fallback[1]: "nobody" is not a configured model (have prod, prod, r) (line 37)`,
		`routes[0].path: "/v1/predict" collides with the gateway's own routes`,
		`routes[0].kind: unknown kind "both" (want single, batch) (line 40)`,
		`routes[0].fields.Age: "agee" is not a declared field`,
		`routes[0].defaults.embarked: must be one of S, C, 3, got "X" (line 42)`,
		`routes[0].response.a: unknown value "$nope"`,
		`routes[0].response_order[1]: "b" is not a key of response (line 44)`,
		`training.label_column: required when training.columns is set (line 45)`,
		`training.columns.Pclass: "pclass" is not a declared field`,
	}
	for _, w := range want {
		found := false
		for _, p := range ve.Problems {
			if strings.HasPrefix(p.String(), w) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing problem %q", w)
		}
	}
	if len(ve.Problems) < len(want) {
		t.Errorf("got %d problems, want at least %d", len(ve.Problems), len(want))
	}
	if t.Failed() {
		for _, p := range ve.Problems {
			t.Log(p.String())
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestApplyDefaults_RecorderDurabilityAndSpool(t *testing.T) {
	for _, tc := range []struct{ url, spoolDir string }{
		{"sqlite:///var/lib/rdv/records.db", "/var/lib/rdv/records.db.spool"},
		{"sqlite:records.db", "records.db.spool"},
		{"postgres://db/records", DefaultSpoolDir},
	} {
		c := &Config{Store: Store{URL: tc.url}}
		c.ApplyDefaults()
		r := c.Recorder
		if r.Durability != DurabilityAsync || r.QueueMaxBytes != 64<<20 || r.SpoolMaxBytes != 1<<30 || r.SpoolDir != tc.spoolDir {
			t.Errorf("store %s: recorder defaults %+v, want async, 64 MiB, 1 GiB, spool dir %s", tc.url, r, tc.spoolDir)
		}
	}
}

func TestValidate_RecorderDurabilityAndSpoolProblemsCarryTheirPaths(t *testing.T) {
	const bad = `store:
  url: sqlite:///tmp/x.db
recorder:
  durability: eventually
  queue_max_bytes: -1
  spool_max_bytes: 1000
  spool_dir: /tmp/x.db
`
	_, err := LoadBytes([]byte(bad), t.TempDir())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{
		`recorder.durability: must be "async" or "sync", got "eventually" (line 4)`,
		`recorder.queue_max_bytes: must be > 0 (line 5)`,
		`recorder.spool_max_bytes: must be at least 1048576 (1 MiB), got 1000 (line 6)`,
		`recorder.spool_dir: must not be the SQLite store's file "/tmp/x.db" (line 7)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestValidate_CORSOriginsMustBeExactOrigins(t *testing.T) {
	const cfg = `server:
  cors_origins:
    - https://app.example.com
    - http://localhost:3000
    - "*"
    - https://app.example.com/
    - https://*.example.com
    - ftp://files.example.com
    - app.example.com
    - https://app.example.com
    - HTTPS://APP.example.com
    - https://user@app.example.com
`
	_, err := LoadBytes([]byte(cfg), t.TempDir())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	for i := 2; i <= 9; i++ {
		if !strings.Contains(err.Error(), fmt.Sprintf("server.cors_origins[%d]: ", i)) {
			t.Errorf("server.cors_origins[%d] not reported in:\n%v", i, err)
		}
	}
	for _, ok := range []string{"server.cors_origins[0]", "server.cors_origins[1]"} {
		if strings.Contains(err.Error(), ok+":") {
			t.Errorf("%s reported as a problem:\n%v", ok, err)
		}
	}
	if !strings.Contains(err.Error(), `server.cors_origins[7]: duplicate origin "https://app.example.com"`) {
		t.Errorf("duplicate not named:\n%v", err)
	}
	c := &Config{}
	c.ApplyDefaults()
	if len(c.Server.CORSOrigins) != 0 {
		t.Errorf("default cors_origins %v, want none", c.Server.CORSOrigins)
	}
}

// TestApplyDefaults_AdmissionTargetIsHalfAnInProcessProductionDeadline: the
// admission limit adapts by default only where latency is the process's
// own (a bundle in production, answers not waiting for durability).
func TestApplyDefaults_AdmissionTargetIsHalfAnInProcessProductionDeadline(t *testing.T) {
	remote := &Remote{Protocol: "oip-v2", URL: "http://m:8080"}
	for _, tc := range []struct {
		name       string
		prod       Model
		durability string
		set, want  time.Duration
	}{
		{"bundle, default deadline", Model{}, "", 0, 25 * time.Millisecond},
		{"bundle, 80ms deadline", Model{Deadline: 80 * time.Millisecond}, "", 0, 40 * time.Millisecond},
		{"bundle, sync durability", Model{}, DurabilitySync, 0, -1},
		{"remote production", Model{Remote: remote}, "", 0, -1},
		{"set explicitly on a remote", Model{Remote: remote}, "", 30 * time.Millisecond, 30 * time.Millisecond},
		{"turned off", Model{}, "", -1, -1},
	} {
		prod := tc.prod
		prod.Name, prod.Role = "p", model.RoleProduction
		c := &Config{Models: []Model{{Name: "c", Role: model.RoleCanary, Deadline: time.Second}, prod},
			Recorder: Recorder{Durability: tc.durability}, Server: Server{AdmissionTarget: tc.set}}
		c.ApplyDefaults()
		if got := c.Server.AdmissionTarget; got != tc.want {
			t.Errorf("%s: admission_target %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestValidate_BusCredentialsMustBeReadable: a credentials file that is not
// there is a problem at bus_credentials, found at load, not at the first
// NATS connection.
func TestValidate_BusCredentialsMustBeReadable(t *testing.T) {
	c, err := Load("../../examples/titanic/rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.BusCredentials = "missing.creds"
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "bus_credentials: cannot read the NATS credentials file") {
		t.Errorf("Validate: %v, want a problem at bus_credentials", err)
	}
	c.BusCredentials = "rendezvous.yaml" // a file beside the config: readable
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with a readable bus_credentials: %v", err)
	}
}

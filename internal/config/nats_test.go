package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate_NATSMembersNeedAWorkerNameAndABus(t *testing.T) {
	const bad = `bus: http://127.0.0.1:4222
models:
  - name: prod
    role: production
    nats: prod.gbt
  - name: canary
    role: canary
    nats: canary-rule
    bus: nats://
  - name: dev
    role: challenger
    kind: nats
    bundle: models/x.json
`
	_, err := LoadBytes([]byte(bad), t.TempDir())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{
		`bus: must be a nats://HOST:PORT URL (or tls://, ws://, wss://), got "http://127.0.0.1:4222" (line 1)`,
		`models[0].nats: "prod.gbt": want letters, digits, '-' or '_' only`,
		`models[1].bus: must be a nats://HOST:PORT URL (or tls://, ws://, wss://), got "nats://" (line 9)`,
		`models[2].nats: required for kind: nats`,
		`models[2].bundle: not used by kind: nats`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestValidate_NATSMemberWithoutAnyBusIsRefused(t *testing.T) {
	const cfg = `models:
  - name: prod
    role: production
    nats: prod-gbt
`
	_, err := LoadBytes([]byte(cfg), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "models[0].bus: required for kind: nats unless the top-level bus is set") {
		t.Fatalf("err = %v, want models[0].bus required", err)
	}
}

func TestApplyDefaults_NATSSetsKindNATS(t *testing.T) {
	const cfg = `bus: nats://127.0.0.1:4222
schema:
  fields:
    - {name: x, type: number}
labels:
  words: {0: no, 1: yes}
models:
  - name: prod
    role: production
    nats: prod-gbt
`
	c, err := LoadBytes([]byte(cfg), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Models[0]; m.Kind != KindNATS || m.NATS != "prod-gbt" || c.Bus != "nats://127.0.0.1:4222" {
		t.Errorf("model = %+v, bus %q; want kind nats on the top-level bus", m, c.Bus)
	}
}

func TestValidate_RecorderBusAndStreamLimitsCarryTheirPaths(t *testing.T) {
	const bad = `recorder:
  bus: postgres://x
  stream_max_bytes: -1
  stream_max_age: -1s
  stream_replicas: 7
`
	_, err := LoadBytes([]byte(bad), t.TempDir())
	for _, want := range []string{
		`recorder.bus: must be a nats://HOST:PORT URL (or tls://, ws://, wss://), got "postgres://x" (line 2)`,
		`recorder.stream_max_bytes: must be > 0 (line 3)`,
		`recorder.stream_max_age: must be >= 0 (0: no age limit) (line 4)`,
		`recorder.stream_replicas: must be between 1 and 5, got 7 (line 5)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

package feedback_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestDecode_RefusesRepeatedKeysAndInvalidUTF8(t *testing.T) {
	for body, want := range map[string]string{
		`{"entity_id":"892","label":1,"label":0}`:                        `duplicate key "label"`,
		`{"feedback":[{"request_id":"r1","label":1}],"feedback":[]}`:     `duplicate key "feedback"`,
		`{"feedback":[{"request_id":"r1","request_id":"r2","label":1}]}`: `duplicate key "feedback[0].request_id"`,
		"{\"entity_id\":\"8\xff2\",\"label\":1}":                         "invalid UTF-8 at byte offset 15",
	} {
		_, _, err := feedback.Decode([]byte(body))
		if err == nil || !errors.Is(err, schema.ErrMalformedJSON) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", body, err, want)
		}
	}
}

func TestSubmit_IDsAreBoundedAtTheEdge(t *testing.T) {
	st := openStore(t)
	svc := feedback.New(st, nil, labels, nil)
	svc.MaxIDBytes = 4
	at := strings.Repeat("x", 4)
	over := strings.Repeat("x", 5)
	items := decode(t, `{"feedback":[{"entity_id":"`+at+`","label":1},{"entity_id":"`+over+`","label":1},{"request_id":"`+over+`","label":0}]}`)
	_, err := svc.Submit(t.Context(), items, true)
	ve, ok := feedback.IsValidation(err)
	if !ok || len(ve.Fields) != 2 || ve.Fields[0].Field != "feedback[1].entity_id" || ve.Fields[1].Field != "feedback[2].request_id" ||
		ve.Fields[0].Problem != "must be at most 4 bytes long, got 5 bytes" {
		t.Fatalf("got %v", err)
	}
	// the default limit
	svc.MaxIDBytes = 0
	items = decode(t, `{"entity_id":"`+strings.Repeat("7", schema.DefaultMaxEntityIDBytes+1)+`","label":1}`)
	if _, err := svc.Submit(t.Context(), items, false); err == nil || !strings.Contains(err.Error(), "entity_id: must be at most 256 bytes long") {
		t.Errorf("over the default: %v", err)
	}
}

package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
)

// Source says where a member's model comes from: exactly one of a bundle
// path on the server (relative to the config file), an uploaded bundle
// (its JSON), a remote model or NATS workers.
type Source struct {
	Bundle     string          `json:"bundle,omitempty"`
	BundleJSON json.RawMessage `json:"bundle_json,omitempty"`
	Remote     *RemoteSpec     `json:"remote,omitempty"`
	NATS       *NATSSpec       `json:"nats,omitempty"`
}

// NATSSpec is a model served by 'rendezvous worker' processes: the worker
// name (subject rendezvous.model.<worker>) and the bus URL (empty: the
// configuration's top-level bus).
type NATSSpec struct {
	Worker string `json:"worker"`
	Bus    string `json:"bus,omitempty"`
}

// RemoteSpec is a remote model (Open Inference Protocol v2 or MLflow
// /invocations), the JSON form of the configuration's models[].remote.
type RemoteSpec struct {
	Protocol        string            `json:"protocol"`
	URL             string            `json:"url"`
	Model           string            `json:"model,omitempty"`
	Version         string            `json:"version,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	Pipeline        string            `json:"pipeline,omitempty"`
	ProbabilityOut  string            `json:"probability_output,omitempty"`
	ClassOut        string            `json:"class_output,omitempty"`
	BreakerFailures int               `json:"breaker_failures,omitempty"`
	BreakerCooldown Duration          `json:"breaker_cooldown,omitempty"`
	Extra           map[string]any    `json:"extra,omitempty"`
}

// ConfigSource is the Source of a configured model.
func ConfigSource(mc config.Model) Source {
	if mc.Kind == config.KindNATS {
		return Source{NATS: &NATSSpec{Worker: mc.NATS, Bus: mc.Bus}}
	}
	if mc.Kind != config.KindRemote || mc.Remote == nil {
		return Source{Bundle: mc.Bundle}
	}
	r := mc.Remote
	return Source{Remote: &RemoteSpec{
		Protocol: r.Protocol, URL: r.URL, Model: r.Model, Version: r.Version, Headers: r.Headers,
		Pipeline: r.Pipeline, ProbabilityOut: r.ProbabilityOut, ClassOut: r.ClassOut,
		BreakerFailures: r.BreakerFailures, BreakerCooldown: Duration(r.BreakerCooldown), Extra: r.Extra,
	}}
}

// Check reports a Source that does not name exactly one origin.
func (s Source) Check() error {
	n := 0
	if s.Bundle != "" {
		n++
	}
	if len(s.BundleJSON) > 0 {
		n++
	}
	if s.Remote != nil {
		n++
	}
	if s.NATS != nil {
		n++
	}
	if n != 1 {
		return &FieldError{Field: "bundle", Msg: "give exactly one of bundle (a path on the server), bundle_json (the bundle itself), remote (an OIP v2 / MLflow model) or nats (a model served by NATS workers)"}
	}
	if s.NATS != nil {
		if s.NATS.Worker == "" {
			return &FieldError{Field: "nats.worker", Msg: "required: the name 'rendezvous worker --name' serves"}
		}
		if err := natsmodel.CheckName(s.NATS.Worker); err != nil {
			return &FieldError{Field: "nats.worker", Msg: err.Error()}
		}
		if s.NATS.Bus != "" {
			if err := natsmodel.CheckURL(s.NATS.Bus); err != nil {
				return &FieldError{Field: "nats.bus", Msg: err.Error()}
			}
		}
	}
	if s.Remote != nil {
		switch {
		case s.Remote.Protocol != "oip-v2" && s.Remote.Protocol != "mlflow":
			return &FieldError{Field: "remote.protocol", Msg: fmt.Sprintf("%q: must be oip-v2 or mlflow", s.Remote.Protocol)}
		case !strings.HasPrefix(s.Remote.URL, "http://") && !strings.HasPrefix(s.Remote.URL, "https://"):
			return &FieldError{Field: "remote.url", Msg: fmt.Sprintf("%q: must be an http:// or https:// URL", s.Remote.URL)}
		}
	}
	return nil
}

// LoadSource builds member name's model from src, checking a bundle's
// pipeline against cfg's schema (CheckInputs).
func LoadSource(cfg *config.Config, name string, src Source, log *slog.Logger) (model.Model, error) {
	if err := src.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		b   *model.Bundle
		err error
	)
	switch {
	case src.NATS != nil:
		if src.NATS.Bus == "" && cfg.Bus == "" {
			return nil, &FieldError{Field: "nats.bus", Msg: "required: the configuration sets no top-level bus"}
		}
		m, err := newNATS(cfg, config.Model{Name: name, Kind: config.KindNATS, NATS: src.NATS.Worker, Bus: src.NATS.Bus}, log)
		if err != nil {
			return nil, &FieldError{Field: "nats", Msg: err.Error()}
		}
		return m, nil
	case src.Remote != nil:
		r := src.Remote
		mc := config.Model{Name: name, Kind: config.KindRemote, Remote: &config.Remote{
			Protocol: r.Protocol, URL: r.URL, Model: r.Model, Version: r.Version, Headers: r.Headers,
			Pipeline: r.Pipeline, ProbabilityOut: r.ProbabilityOut, ClassOut: r.ClassOut,
			BreakerFailures: r.BreakerFailures, BreakerCooldown: time.Duration(r.BreakerCooldown), Extra: r.Extra,
		}}
		m, err := newRemote(cfg, mc, log)
		if err != nil {
			return nil, &FieldError{Field: "remote", Msg: err.Error()}
		}
		return m, nil
	case src.Bundle != "":
		if b, err = LoadBundle(cfg, src.Bundle); err != nil {
			return nil, &FieldError{Field: "bundle", Msg: err.Error()}
		}
	default:
		if b, err = model.LoadBytes(name, src.BundleJSON); err != nil {
			return nil, &FieldError{Field: "bundle_json", Msg: err.Error()}
		}
	}
	if err := CheckInputs(cfg, b); err != nil {
		return nil, &FieldError{Field: "bundle", Msg: err.Error()}
	}
	return b, nil
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("250ms", "2s").
type Duration time.Duration

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	// An *json.UnmarshalTypeError gets the field's name from the decoder.
	bad := &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[durationString]()}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return bad
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return bad
	}
	*d = Duration(v)
	return nil
}

// durationString names the expected type in decoding errors.
type durationString string

func (durationString) String() string { return `a duration string such as "250ms"` }

// FieldError is a refused change, naming the field at fault (the API
// answers 400 with it).
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

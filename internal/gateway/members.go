package gateway

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
	"github.com/rendezvous-gw/rendezvous/internal/model/remote"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// FromConfig builds the deployment a validated configuration describes:
// the schema's validator, one member per configured model (bundles from the
// embedded FS or the file system relative to the config file, remote models
// over HTTP, models served by NATS workers), the policy and the label words.
func FromConfig(cfg *config.Config, log *slog.Logger) (*Deployment, error) {
	val, err := cfg.Validator()
	if err != nil {
		return nil, err
	}
	members, err := LoadMembers(cfg, log)
	if err != nil {
		return nil, err
	}
	sources := make(map[string]Source, len(cfg.Models))
	for _, mc := range cfg.Models {
		sources[mc.Name] = ConfigSource(mc)
	}
	return NewDeployment(DeploymentParams{
		Sources:       sources,
		Members:       members,
		Policy:        rendezvous.Policy{Fallback: cfg.Policy.Fallback, OverallDeadline: cfg.Policy.OverallDeadline},
		Validator:     val,
		Words:         cfg.Labels.Words,
		EntityField:   cfg.Schema.EntityField,
		RouterOptions: []rendezvous.Option{rendezvous.WithLogger(log)},
	})
}

// LoadMembers builds one rendezvous member per configured model. Every
// error names the model (models[i] (name)).
func LoadMembers(cfg *config.Config, log *slog.Logger) ([]rendezvous.Member, error) {
	members := make([]rendezvous.Member, 0, len(cfg.Models))
	for i, mc := range cfg.Models {
		m, err := loadModel(cfg, mc, log)
		if err != nil {
			return nil, fmt.Errorf("models[%d] (%s): %w", i, mc.Name, err)
		}
		members = append(members, rendezvous.Member{
			Name: mc.Name, Role: mc.Role, Model: m, Deadline: mc.Deadline, MaxInFlight: mc.MaxInFlight,
		})
	}
	return members, nil
}

// loadModel builds one configured model: a remote model, or a bundle whose
// pipeline reads only declared schema fields.
func loadModel(cfg *config.Config, mc config.Model, log *slog.Logger) (model.Model, error) {
	switch mc.Kind {
	case config.KindRemote:
		return newRemote(cfg, mc, log)
	case config.KindNATS:
		return newNATS(cfg, mc, log)
	}
	b, err := LoadBundle(cfg, mc.Bundle)
	if err != nil {
		return nil, err
	}
	if err := CheckInputs(cfg, b); err != nil {
		return nil, err
	}
	return b, nil
}

// CheckInputs makes sure every raw input a bundle's pipeline reads is a
// declared schema field of a compatible type, so a mismatch fails at start
// rather than on every request.
func CheckInputs(cfg *config.Config, b *model.Bundle) error {
	if b.Pipeline == nil {
		return nil
	}
	types := make(map[string]schema.Type, len(cfg.Schema.Fields))
	for _, f := range cfg.Schema.Fields {
		types[f.Name] = f.Type
	}
	numeric := func(t schema.Type) bool { return t == schema.TypeInteger || t == schema.TypeNumber }
	var problems []string
	for _, in := range b.Pipeline.Inputs {
		t, ok := types[in.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("reads input %q, which schema.fields does not declare", in.Name))
		case in.Type != "" && in.Type != t && !(numeric(in.Type) && numeric(t)):
			problems = append(problems, fmt.Sprintf("reads input %q as %s, but schema.fields declares it %s", in.Name, in.Type, t))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("bundle %s %s: %s", b.Name, b.Version, strings.Join(problems, "; "))
	}
	return nil
}

// LoadBundle reads a bundle the configuration names: from its embedded FS
// when it has one, else from the file system relative to the config file.
func LoadBundle(cfg *config.Config, p string) (*model.Bundle, error) {
	if cfg.FS == nil {
		return model.Load(cfg.BundlePath(p))
	}
	data, err := cfg.ReadBundle(p)
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", p, err)
	}
	return model.LoadBytes(p, data)
}

// BusOptions are the nats.Connect options every gateway connection to NATS
// takes from the configuration: the credentials file of bus_credentials.
func BusOptions(cfg *config.Config) []nats.Option {
	if cfg.BusCredentials == "" {
		return nil
	}
	return []nats.Option{nats.UserCredentials(cfg.BundlePath(cfg.BusCredentials))}
}

// newNATS builds a member served by NATS workers, on the member's bus or
// the configuration's. It connects in the background: a bus that is down
// at start makes the member fail fast (kind connection) until it is up.
func newNATS(cfg *config.Config, mc config.Model, log *slog.Logger) (*natsmodel.Model, error) {
	bus := mc.Bus
	if bus == "" {
		bus = cfg.Bus
	}
	m, err := natsmodel.New(natsmodel.Config{
		Name: mc.Name, Worker: mc.NATS, URL: bus, Labels: cfg.Labels.Words,
		BreakerFailures: config.DefaultBreakerFailures, BreakerCooldown: config.DefaultBreakerCooldown,
		Logger: log, Options: BusOptions(cfg),
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func newRemote(cfg *config.Config, mc config.Model, log *slog.Logger) (*remote.Model, error) {
	r := mc.Remote
	rc := remote.Config{
		Name:              mc.Name,
		Protocol:          remote.Protocol(r.Protocol),
		URL:               r.URL,
		Model:             r.Model,
		Version:           r.Version,
		Headers:           r.Headers,
		ClassOutput:       r.ClassOut,
		ProbabilityOutput: r.ProbabilityOut,
		Labels:            cfg.Labels.Words,
		BreakerFailures:   r.BreakerFailures,
		BreakerCooldown:   r.BreakerCooldown,
		Logger:            log,
	}
	if r.Pipeline != "" {
		b, err := LoadBundle(cfg, r.Pipeline)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		rc.Transformer = b.Pipeline
	} else {
		for _, f := range cfg.Schema.Fields {
			rc.Fields = append(rc.Fields, remote.Field{Name: f.Name, Type: schema.Type(f.Type)})
		}
	}
	if err := rc.ApplyExtra(r.Extra); err != nil {
		return nil, fmt.Errorf("remote.extra: %w", err)
	}
	m, err := remote.New(rc)
	if err != nil {
		return nil, fmt.Errorf("remote model: %w", err)
	}
	return m, nil
}

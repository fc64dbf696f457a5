// Package natsmodel carries models over NATS: a worker serves a model.Model
// on the subject rendezvous.model.<name> in a queue group (request/reply),
// announced with the NATS service API (nats.go/micro), and Model is the
// gateway-side model.Model that calls it, with a circuit breaker like the
// remote HTTP models of package remote.
//
// # Wire format
//
// A request is one NATS message on rendezvous.model.<name> whose reply
// subject is the caller's inbox and whose body is the JSON
//
//	{"input": {"pclass": 3, "sex": "male", "age": null, ...}}
//
// — the validated schema.Input as the gateway holds it (numbers as JSON
// numbers, a missing value as null). A successful reply is
//
//	{"class": 1, "label": "Survived", "probability": 0.83,
//	 "features": {"names": ["pclass", ...], "values": [3, ...]}}
//
// (features only when the worker's model produced them). A failed
// prediction is a reply with the headers Nats-Service-Error (the message)
// and Nats-Service-Error-Code ("400" for a request the worker cannot decode,
// "500" for a model error), the NATS service API's error convention.
package natsmodel

import (
	"fmt"
	"regexp"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// SubjectPrefix is prepended to a model's name to make its subject.
const SubjectPrefix = "rendezvous.model."

// ServicePrefix is prepended to a model's name to make the NATS service
// name its workers announce (service names cannot hold dots).
const ServicePrefix = "rendezvous-model-"

// QueueGroup is the queue group every worker of every model joins, so one
// request reaches exactly one worker of its model.
const QueueGroup = "rendezvous-workers"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// CheckName reports a model name that cannot be a NATS subject token or
// service name (letters, digits, '-' and '_' only).
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("model name %q: want letters, digits, '-' or '_' only (it becomes the subject %s<name>)", name, SubjectPrefix)
	}
	return nil
}

// Subject returns the request subject of model name.
func Subject(name string) string { return SubjectPrefix + name }

// Request is the body of a request message.
type Request struct {
	Input schema.Input `json:"input"`
}

// Reply is the body of a successful reply.
type Reply struct {
	Class       int       `json:"class"`
	Label       string    `json:"label,omitempty"`
	Probability float64   `json:"probability"`
	Features    *Features `json:"features,omitempty"`
}

// Features are a prediction's features on the wire.
type Features struct {
	Names  []string  `json:"names"`
	Values []float64 `json:"values"`
}

func replyOf(p model.Prediction) Reply {
	r := Reply{Class: p.Class, Label: p.Label, Probability: p.Probability}
	if len(p.Features.Names) > 0 {
		r.Features = &Features{Names: p.Features.Names, Values: p.Features.Values}
	}
	return r
}

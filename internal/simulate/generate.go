package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Request is one generated request: the (drifted) input to send and the
// outcome of the row it came from.
type Request struct {
	// Seq numbers requests from 0 in generation order.
	Seq      int
	EntityID string
	Input    schema.Input
	Label    int
	HasLabel bool
	// SendLabel says the label is to be sent as feedback once the
	// request's id is known (drawn with the label rate).
	SendLabel bool
}

// Generator turns a Source into a deterministic stream of requests: the same
// source, drifts, seed and sequence of intensities give the same requests.
// It is not safe for concurrent use.
type Generator struct {
	src       Source
	inj       *Injector
	rng       *rand.Rand
	labelRate float64
	seq       int
}

// NewGenerator returns a generator drawing from src, applying inj (nil for
// no drift) and marking each labelled request for feedback with probability
// labelRate. Rows without an entity id get "sim-<seq>".
func NewGenerator(src Source, inj *Injector, seed uint64, labelRate float64) *Generator {
	return &Generator{
		src:       src,
		inj:       inj,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		labelRate: labelRate,
	}
}

// Next returns the next request with drift applied at intensity t in [0, 1].
func (g *Generator) Next(t float64) Request {
	row := g.src.Next(g.rng)
	in := g.inj.Apply(row.Input, t, g.rng)
	// Always draw, so enabling labels never changes the inputs sent.
	u := g.rng.Float64()
	req := Request{
		Seq:       g.seq,
		EntityID:  row.EntityID,
		Input:     in,
		Label:     row.Label,
		HasLabel:  row.HasLabel,
		SendLabel: row.HasLabel && u < g.labelRate,
	}
	if req.EntityID == "" {
		req.EntityID = "sim-" + strconv.Itoa(g.seq+1)
	}
	g.seq++
	return req
}

// Route is how requests are encoded and where they are posted.
type Route struct {
	// Name is "v1" or "original".
	Name string
	// Path is the request path ("/v1/predict", "/singletitanicpred/").
	Path string
	// Keys maps schema fields to request keys (original routes rename;
	// absent means the same name).
	Keys map[string]string
	// EntityKey is the request key of the entity id (original routes).
	EntityKey string
}

// V1Route posts {"entity_id", "input"} to /v1/predict.
func V1Route() Route { return Route{Name: "v1", Path: "/v1/predict"} }

// OriginalRoute returns the first single-request compatibility route of the
// configuration (the original service's /singletitanicpred/ in the example).
func OriginalRoute(routes []config.Route) (Route, error) {
	for _, r := range routes {
		if r.Kind != "single" && r.Kind != "" {
			continue
		}
		rt := Route{Name: "original", Path: r.Path, EntityKey: r.EntityKey, Keys: map[string]string{}}
		for key, field := range r.Fields {
			rt.Keys[field] = key
		}
		return rt, nil
	}
	return Route{}, errors.New("the configuration has no single-request compatibility route (routes[].kind: single)")
}

// Body encodes req for this route. Missing (nil) values are left out, so
// the gateway applies its defaults or treats them as missing.
func (rt Route) Body(req Request) ([]byte, error) {
	in := make(map[string]any, len(req.Input)+1)
	for k, v := range req.Input {
		if v == nil {
			continue
		}
		if key, ok := rt.Keys[k]; ok {
			k = key
		}
		in[k] = v
	}
	if rt.Name == "v1" {
		b, err := json.Marshal(struct {
			EntityID string         `json:"entity_id,omitempty"`
			Input    map[string]any `json:"input"`
		}{req.EntityID, in})
		if err != nil {
			return nil, fmt.Errorf("encode request %d: %w", req.Seq, err)
		}
		return b, nil
	}
	if rt.EntityKey != "" {
		in[rt.EntityKey] = req.EntityID
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode request %d: %w", req.Seq, err)
	}
	return b, nil
}

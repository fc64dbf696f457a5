package gateway

import (
	"errors"
	"fmt"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Deployment is one immutable set of live members and what requests are
// read and answered with: the router over the members, the input schema and
// the label words. It is safe for concurrent use; nothing in it changes
// after NewDeployment.
type Deployment struct {
	// Seq numbers the deployment: the seq of the deployment event that
	// made it live (0 for the one a gateway started with, unless the
	// caller restored it from an event and set it). Every record it
	// serves carries it (record.Decision.Deployment), so analytics can
	// group requests by the deployment that served them. A rollback
	// serves the earlier members under the rollback event's seq.
	Seq int64
	// Router fans a request out to Members and applies the policy.
	Router *rendezvous.Router
	// Members are the live models in member order (as given to the
	// router).
	Members []rendezvous.Member
	// Validator checks and converts raw inputs against the schema.
	Validator *schema.Validator
	// Words are the configured label words by class; a model's own word
	// takes precedence (Label).
	Words map[int]string
	// EntityField is the schema field that names the entity when a request
	// names none ("" for none).
	EntityField string
	// Policy is the fallback policy the router was built with.
	Policy rendezvous.Policy
	// Sources say where each member's model came from (by member name), so
	// the deployment can be saved and loaded again (State, LoadState).
	Sources map[string]Source
	// production is the production member's index in Members.
	production int
	options    []rendezvous.Option
}

// DeploymentParams builds a Deployment. Members and Validator are required.
type DeploymentParams struct {
	Members       []rendezvous.Member
	Policy        rendezvous.Policy
	Validator     *schema.Validator
	Words         map[int]string
	EntityField   string
	RouterOptions []rendezvous.Option
	// Sources, by member name (optional; a member without one cannot be
	// restored after a restart).
	Sources map[string]Source
}

// NewDeployment builds the router over p.Members (the rendezvous checks the
// members and the policy) and returns the Deployment.
func NewDeployment(p DeploymentParams) (*Deployment, error) {
	if p.Validator == nil {
		return nil, errors.New("gateway: a deployment needs a schema validator")
	}
	router, err := rendezvous.New(p.Members, p.Policy, p.RouterOptions...)
	if err != nil {
		return nil, fmt.Errorf("build rendezvous: %w", err)
	}
	d := &Deployment{
		Router:      router,
		Members:     p.Members,
		Validator:   p.Validator,
		Words:       p.Words,
		EntityField: p.EntityField,
		Policy:      p.Policy,
		Sources:     p.Sources,
		options:     p.RouterOptions,
	}
	if d.Sources == nil {
		d.Sources = map[string]Source{}
	}
	for i, m := range p.Members {
		if m.Role == model.RoleProduction {
			d.production = i
		}
	}
	return d, nil
}

// Production returns the production member.
func (d *Deployment) Production() rendezvous.Member { return d.Members[d.production] }

// Member returns the member called name.
func (d *Deployment) Member(name string) (rendezvous.Member, bool) {
	for _, m := range d.Members {
		if m.Name == name {
			return m, true
		}
	}
	return rendezvous.Member{}, false
}

// Label returns a model's word for class: its own word when it gave one,
// else the configured one ("" when neither exists).
func (d *Deployment) Label(class int, word string) string {
	if word != "" {
		return word
	}
	return d.Words[class]
}

package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
)

// breakerModel is a production model with a circuit breaker state, as the
// remote (OIP v2, MLflow) and NATS models report it.
type breakerModel struct {
	ruleModel
	state string
}

func (m breakerModel) State() string { return m.state }

// TestReadyz_ProductionBehindAClosedBreakerIsReady: a remote or NATS
// production model whose breaker lets calls through ("closed",
// "half-open") is ready; an open breaker is not.
func TestReadyz_ProductionBehindAClosedBreakerIsReady(t *testing.T) {
	for _, tt := range []struct {
		state string
		code  int
	}{{"closed", 200}, {"half-open", 200}, {"open", 503}} {
		members := []rendezvous.Member{
			{Name: "prod-gbt", Role: model.RoleProduction, Model: breakerModel{ruleModel{name: "prod", prob: 0.9}, tt.state}, Deadline: time.Second},
			{Name: "canary-rule", Role: model.RoleCanary, Model: ruleModel{name: "canary", prob: 0.7}, Deadline: time.Second},
		}
		h, _ := newHandler(t, testConfig(t), members, rendezvous.Policy{}, gateway.Params{})
		srv := httptest.NewServer(h)
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("production breaker %s: /readyz %d, want %d", tt.state, resp.StatusCode, tt.code)
		}
	}
}

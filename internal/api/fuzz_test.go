package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
)

// FuzzPredictHandler sends arbitrary bodies to POST /v1/predict and the
// original service's route, with the real handler, gateway and router over
// three in-process models. Invariants: no panic, no 5xx (the models always
// answer in time), and a 2xx only for a body whose every input the schema
// accepts (checked independently with the validator).
func FuzzPredictHandler(f *testing.F) {
	for _, seed := range []string{
		`{"entity_id":"892","input":` + passenger + `}`,
		`{"instances":[{"input":` + passenger + `},{"entity_id":7,"input":{}}]}`,
		`{"input":{"pclass":3,"sex":"male","age":-1,"sibsp":0,"parch":0,"fare":7.25,"embarked":"S"}}`,
		`{"input":{"pclass":3,"sex":"male","sibsp":0,"parch":0,"pclass":1}}`,
		`{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}`,
		`[{"pclass":1,"sex":"female","sibsp":1,"parch":0}]`,
		`{"input":{"sex":"\xff"}}`, `{`, `[]`, `null`, `1e999`, "",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	cfg, err := titanic.Config()
	if err != nil {
		f.Fatal(err)
	}
	members := []rendezvous.Member{
		{Name: "prod-gbt", Role: model.RoleProduction, Model: ruleModel{name: "prod", prob: 0.9}, Deadline: 10 * time.Second},
		{Name: "canary-rule", Role: model.RoleCanary, Model: ruleModel{name: "canary", prob: 0.7}, Deadline: 10 * time.Second},
		{Name: "dev-logreg", Role: model.RoleChallenger, Model: ruleModel{name: "dev", prob: 0.6}, Deadline: 10 * time.Second},
	}
	h, gw := newHandler(f, cfg, members, rendezvous.Policy{}, gateway.Params{Recorder: discard{}, MaxInFlight: -1})
	val := gw.Validator()
	f.Fuzz(func(t *testing.T, body string, compat bool) {
		path := "/v1/predict"
		if compat {
			path = "/singletitanicpred/"
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body.String())
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: response is not JSON: %s", path, body, w.Body.String())
		}
		if w.Code/100 != 2 || compat {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &top); err != nil {
			t.Fatalf("2xx for a body that is not a JSON object: %q", body)
		}
		inputs := []json.RawMessage{top["input"]}
		if raw, ok := top["instances"]; ok {
			var items []map[string]json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				t.Fatalf("2xx for instances that are not objects: %q", body)
			}
			inputs = inputs[:0]
			for _, it := range items {
				inputs = append(inputs, it["input"])
			}
		}
		for _, in := range inputs {
			if _, errs := val.ValidateJSON(in); errs != nil {
				t.Fatalf("2xx for an input the schema refuses: %s (%v)", in, errs)
			}
		}
	})
}

package api

import (
	"encoding/json"
	"testing"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
)

func TestOpenAPI_EveryOperationNamesItsTokenScope(t *testing.T) {
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]map[string]any
		Components struct {
			SecuritySchemes map[string]map[string]any
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if s := doc.Components.SecuritySchemes["bearerAuth"]; s["type"] != "http" || s["scheme"] != "bearer" {
		t.Errorf("securitySchemes %v", doc.Components.SecuritySchemes)
	}
	want := map[string]string{
		"post /v1/predict": "predict", "get /v1/requests/{id}": "read", "get /v1/models": "read",
		"get /healthz": "", "get /readyz": "", "get /metrics": "", "get /openapi.json": "",
	}
	for _, rt := range cfg.Routes {
		want["post "+rt.Path] = "predict"
	}
	for key, scope := range want {
		var method, path string
		for i := range key {
			if key[i] == ' ' {
				method, path = key[:i], key[i+1:]
				break
			}
		}
		op := doc.Paths[path][method]
		sec, ok := op["security"].([]any)
		if !ok {
			t.Errorf("%s: no security", key)
			continue
		}
		got := ""
		if len(sec) == 1 {
			got = sec[0].(map[string]any)["bearerAuth"].([]any)[0].(string)
		}
		resps, _ := op["responses"].(map[string]any)
		if got != scope || (scope != "") != (resps["401"] != nil && resps["403"] != nil) {
			t.Errorf("%s: security %v, 401/403 documented %v; want scope %q", key, sec, resps["401"] != nil, scope)
		}
	}
}

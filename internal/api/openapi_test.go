package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestOpenAPI_DocumentIsStructurallyValidAndMatchesTheConfig checks the
// served document: OpenAPI 3.1, every served route documented with
// operations and responses, every $ref resolving, and the input schema's
// fields, types, enums and ranges equal to the configuration's.
func TestOpenAPI_DocumentIsStructurallyValidAndMatchesTheConfig(t *testing.T) {
	f := defaultFixture(t)
	r := f.do(t, http.MethodGet, "/openapi.json", "", "")
	if r.code != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", r.code, r.header)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Fatalf("info %v", info)
	}

	// Every route the handler serves is documented, with operations that
	// have responses, and operationIds are unique.
	paths := doc["paths"].(map[string]any)
	want := []string{"/v1/predict", "/v1/requests/{id}", "/v1/models", "/healthz", "/readyz", "/openapi.json", "/metrics",
		"/v1/models/{name}", "/v1/models/{name}/promote", "/v1/rollback", "/v1/reload", "/v1/deployments", "/v1/replay"}
	for _, rt := range f.cfg.Routes {
		want = append(want, rt.Path)
	}
	if len(paths) != len(want) {
		t.Errorf("%d paths, want %d", len(paths), len(want))
	}
	opIDs := map[string]bool{}
	for _, p := range want {
		item, ok := paths[p].(map[string]any)
		if !ok || len(item) == 0 {
			t.Errorf("path %s: no operations", p)
			continue
		}
		for method, op := range item {
			if !strings.Contains("get post put delete patch", method) {
				t.Errorf("%s: unknown method %q", p, method)
			}
			o := op.(map[string]any)
			if resps, _ := o["responses"].(map[string]any); len(resps) == 0 {
				t.Errorf("%s %s: no responses", method, p)
			}
			id, _ := o["operationId"].(string)
			if id == "" || opIDs[id] {
				t.Errorf("%s %s: operationId %q missing or repeated", method, p, id)
			}
			opIDs[id] = true
			// Path parameters are declared.
			if strings.Contains(p, "{") {
				params, _ := o["parameters"].([]any)
				if len(params) == 0 {
					t.Errorf("%s %s: path parameter not declared", method, p)
				}
			}
		}
	}
	// Each path is actually served (no 404 for a documented route).
	for _, p := range want {
		for method := range paths[p].(map[string]any) {
			path := strings.NewReplacer("{id}", "x", "{name}", "prod-gbt").Replace(p)
			if r := f.do(t, strings.ToUpper(method), path, "application/json", "{}"); r.code == 404 && p != "/v1/requests/{id}" || r.code == 405 {
				t.Errorf("documented %s %s answers %d", method, p, r.code)
			}
		}
	}

	// Every $ref resolves.
	var walk func(v any, at string)
	refs := 0
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				refs++
				if resolve(doc, ref) == nil {
					t.Errorf("%s: $ref %q does not resolve", at, ref)
				}
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")
	if refs < 10 {
		t.Errorf("only %d refs: document not wired through components", refs)
	}

	// The input schema matches the configuration field by field.
	input := resolve(doc, "#/components/schemas/Input").(map[string]any)
	props := input["properties"].(map[string]any)
	var required []string
	for _, fd := range f.cfg.Schema.Fields {
		p, ok := props[fd.Name].(map[string]any)
		if !ok {
			t.Errorf("field %s missing", fd.Name)
			continue
		}
		base := p
		if alts, ok := p["anyOf"].([]any); ok {
			base = alts[0].(map[string]any)
			nullable := false
			for _, a := range alts[1:] {
				am := a.(map[string]any)
				if am["type"] == "null" {
					nullable = true
				}
				if e, ok := am["enum"]; ok && fmt.Sprint(e) != fmt.Sprint(fd.Missing) {
					t.Errorf("field %s sentinels %v, want %v", fd.Name, e, fd.Missing)
				}
			}
			if nullable == fd.Required {
				t.Errorf("field %s: nullable %v but required %v", fd.Name, nullable, fd.Required)
			}
		} else if !fd.Required || len(fd.Missing) > 0 {
			t.Errorf("field %s: optional or with sentinels but not anyOf", fd.Name)
		}
		if base["type"] != string(fd.Type) {
			t.Errorf("field %s type %v, want %s", fd.Name, base["type"], fd.Type)
		}
		if fmt.Sprint(base["enum"]) != fmt.Sprint(nilIfEmpty(fd.Allowed)) {
			t.Errorf("field %s enum %v, want %v", fd.Name, base["enum"], fd.Allowed)
		}
		if !sameBound(base["minimum"], fd.Min) || !sameBound(base["maximum"], fd.Max) {
			t.Errorf("field %s range [%v, %v], want [%v, %v]", fd.Name, base["minimum"], base["maximum"], fd.Min, fd.Max)
		}
		if fd.Required {
			required = append(required, fd.Name)
		}
	}
	if len(props) != len(f.cfg.Schema.Fields) {
		t.Errorf("%d properties, want %d", len(props), len(f.cfg.Schema.Fields))
	}
	if got := toStrings(input["required"]); !reflect.DeepEqual(got, required) {
		t.Errorf("required %v, want %v", got, required)
	}
	if input["additionalProperties"] != false {
		t.Errorf("unknown fields are rejected but additionalProperties is %v", input["additionalProperties"])
	}

	// The compatibility response documents the original keys in order.
	resp := resolve(doc, "#/components/schemas/Compat_singletitanicpred_Response").(map[string]any)
	if got := toStrings(resp["required"]); !reflect.DeepEqual(got, f.cfg.Routes[0].ResponseOrder) {
		t.Errorf("compat response keys %v", got)
	}
}

func resolve(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

func nilIfEmpty(a []any) any {
	if len(a) == 0 {
		return nil
	}
	return a
}

func sameBound(got any, want *float64) bool {
	if want == nil {
		return got == nil
	}
	g, ok := got.(float64)
	return ok && g == *want
}

func toStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

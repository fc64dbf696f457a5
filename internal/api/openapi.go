package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/auth"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

// OpenAPI returns the OpenAPI 3.1 document of every route the Handler
// serves, generated from cfg (input schema, labels, compatibility routes).
func OpenAPI(cfg *config.Config, extra ...Route) ([]byte, error) {
	classes, words := labelEnums(cfg)
	comps := components(cfg, classes, words)
	paths := corePaths(cfg)
	lifecycleComponents(comps)
	lifecyclePaths(paths)
	replayComponents(comps)
	replayPaths(paths)
	compatPaths(cfg, paths, comps, classes, words)
	if err := mountExtra(paths, comps, extra); err != nil {
		return nil, err
	}
	completeOperations(paths)
	addSecurity(paths)
	doc := obj{
		"openapi": "3.1.0",
		// Relative: the gateway that serves this document.
		"servers": []any{obj{"url": "/", "description": "the gateway serving this document"}},
		"info": obj{
			"title":       "Rendezvous gateway",
			"version":     "1",
			"description": "Every prediction request goes to every live model; one answer comes back; everything is recorded.",
		},
		"paths":      paths,
		"components": obj{"schemas": comps, "securitySchemes": auth.OpenAPISecuritySchemes()},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// components returns the schemas of the core routes.
func components(cfg *config.Config, classes []int, words []string) obj {
	comps := obj{}
	comps["Input"] = inputSchema(cfg.Schema.Fields, cfg.RejectUnknown(), nil)
	comps["FieldError"] = obj{"type": "object", "required": []string{"field", "problem"}, "properties": obj{
		"field":   obj{"type": "string", "description": `Path of the field, e.g. "age" or "instances[3].age".`},
		"problem": obj{"type": "string"},
	}}
	comps["Error"] = obj{"type": "object", "required": []string{"error"}, "properties": obj{
		"error":      obj{"type": "string"},
		"fields":     obj{"type": "array", "items": ref("FieldError")},
		"request_id": obj{"type": "string"},
	}}
	comps["PredictRequest"] = obj{"type": "object", "required": []string{"input"}, "additionalProperties": false, "properties": obj{
		"entity_id": obj{"type": []string{"string", "number"}, "description": "Your id of the entity (e.g. a passenger); recorded and echoed."},
		"input":     ref("Input"),
	}}
	comps["BatchPredictRequest"] = obj{"type": "object", "required": []string{"instances"}, "additionalProperties": false, "properties": obj{
		"instances": obj{"type": "array", "minItems": 1, "maxItems": cfg.Server.MaxBatch, "items": ref("PredictRequest")},
	}}
	comps["Prediction"] = obj{"type": "object",
		"required": []string{"request_id", "prediction", "label", "probability", "served_by", "fallback"},
		"properties": obj{
			"request_id":  obj{"type": "string"},
			"entity_id":   obj{"type": "string"},
			"prediction":  obj{"type": "integer", "enum": classes},
			"label":       obj{"type": "string", "enum": words},
			"probability": obj{"type": "number", "minimum": 0, "maximum": 1, "description": fmt.Sprintf("Probability of class %d.", cfg.Labels.Positive)},
			"served_by": obj{"type": "object", "required": []string{"model", "version", "role"}, "properties": obj{
				"model":   obj{"type": "string"},
				"version": obj{"type": "string"},
				"role":    obj{"type": "string", "enum": []string{"production", "canary", "challenger"}},
			}},
			"fallback": obj{"type": "boolean", "description": "True when production failed and a fallback model answered."},
		}}
	comps["BatchPrediction"] = obj{"type": "object", "required": []string{"request_id", "results"}, "properties": obj{
		"request_id": obj{"type": "string", "description": "The batch's id; instance i is recorded as <request_id>.<i>."},
		"results":    obj{"type": "array", "items": ref("Prediction")},
	}}
	comps["ModelResult"] = obj{"type": "object", "properties": obj{
		"role":        obj{"type": "string"},
		"version":     obj{"type": "string"},
		"artifact":    obj{"type": "string"},
		"features":    obj{"type": "object", "additionalProperties": obj{"type": "number"}},
		"prediction":  obj{"type": "integer"},
		"label":       obj{"type": "string"},
		"probability": obj{"type": "number"},
		"latency_us":  obj{"type": "integer"},
		"status":      obj{"type": "string", "enum": []string{"ok", "error", "timeout", "skipped", "late"}},
		"error":       obj{"type": "string"},
	}}
	comps["Record"] = obj{"type": "object", "required": []string{"_id", "received_at", "endpoint", "status"}, "properties": obj{
		"_id":         obj{"type": "string"},
		"received_at": obj{"type": "string", "format": "date-time"},
		"endpoint":    obj{"type": "string"},
		"entity_id":   obj{"type": "string"},
		"input":       obj{"type": "object"},
		"raw":         obj{"type": "string", "description": "The body as received (rejected requests only)."},
		"status":      obj{"type": "string", "enum": []string{"ok", "rejected", "unavailable"}},
		"problems":    obj{"type": "array", "items": ref("FieldError")},
		"models":      obj{"type": "object", "additionalProperties": ref("ModelResult")},
		"decision": obj{"type": "object", "properties": obj{
			"served_by":   obj{"type": "string"},
			"reason":      obj{"type": "string", "enum": []string{"preferred", "fallback", "unavailable"}},
			"deadline_ms": obj{"type": "integer"},
			"latency_us":  obj{"type": "integer"},
			"deployment":  obj{"type": "integer", "description": "seq of the deployment that served the request (absent: the one the server started with)"},
		}},
	}}
	comps["Models"] = obj{"type": "object", "required": []string{"models"}, "properties": obj{
		"deployment": obj{"type": "integer", "description": "seq of the live deployment"},
		"models": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
			"name":          obj{"type": "string"},
			"role":          obj{"type": "string"},
			"version":       obj{"type": "string"},
			"artifact":      obj{"type": "string"},
			"algorithm":     obj{"type": "string"},
			"deadline_ms":   obj{"type": "number"},
			"in_flight":     obj{"type": "integer"},
			"max_in_flight": obj{"type": "integer"},
			"state":         obj{"type": "string"},
			"sample":        obj{"type": "number", "minimum": 0, "maximum": 1, "description": "Share of requests the model is called for (chosen by request id); 1 for production."},
			"paused":        obj{"type": "boolean", "description": "A paused model is not called (recorded as skipped)."},
			"fallback":      obj{"type": "integer", "minimum": -1, "description": "Position in the fallback order (0: first backstop after production); -1 for production and shadows."},
		}}},
	}}
	comps["Readiness"] = obj{"type": "object", "required": []string{"status", "checks"}, "properties": obj{
		"status":  obj{"type": "string", "enum": []string{"ready", "not ready"}},
		"checks":  obj{"type": "object", "additionalProperties": obj{"type": "string"}},
		"reasons": obj{"type": "array", "items": obj{"type": "string"}},
	}}
	return comps
}

// reqIDParam is the X-Request-ID header parameter.
func reqIDParam() obj {
	return obj{"name": "X-Request-ID", "in": "header", "required": false,
		"description": "Your request id (1-128 characters of [A-Za-z0-9._:-]); otherwise a UUIDv7 is assigned.",
		"schema":      obj{"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}
}

// errResp is an error response with the Error schema.
func errResp(desc string) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref("Error")}}}
}

// predictErrors adds the error responses of a prediction route to resps.
func predictErrors(cfg *config.Config, resps obj) obj {
	resps["400"] = errResp("Malformed JSON (the error names the byte offset) or a body of the wrong shape.")
	resps["413"] = errResp(fmt.Sprintf("Body larger than %d bytes.", cfg.Server.MaxBodyBytes))
	resps["415"] = errResp("Content type is not JSON.")
	resps["422"] = errResp("Invalid input: every field problem is listed.")
	resps["503"] = obj{"description": "No model answered in time.", "headers": obj{"Retry-After": obj{"schema": obj{"type": "integer"}}},
		"content": obj{"application/json": obj{"schema": ref("Error")}}}
	return resps
}

func jsonBody(s obj) obj {
	return obj{"required": true, "content": obj{"application/json": obj{"schema": s}}}
}

func jsonResp(desc string, s obj) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": s}}}
}

// corePaths documents the built-in routes but the lifecycle ones
// (lifecyclePaths).
func corePaths(cfg *config.Config) obj {
	return obj{
		"/v1/predict": obj{"post": obj{
			"operationId": "predict",
			"summary":     "Predict with every live model; answer with production's result or a fallback.",
			"parameters":  []any{reqIDParam()},
			"requestBody": jsonBody(obj{"oneOf": []any{ref("PredictRequest"), ref("BatchPredictRequest")}}),
			"responses": predictErrors(cfg, obj{
				"200": jsonResp("The prediction (or, for a batch, every prediction in order).", obj{"oneOf": []any{ref("Prediction"), ref("BatchPrediction")}}),
			}),
		}},
		"/v1/requests/{id}": obj{"get": obj{
			"operationId": "getRequest",
			"summary":     "The stored record of one request: input, every model's result, the decision.",
			"parameters":  []any{obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string"}}},
			"responses": obj{
				"200": jsonResp("The record.", ref("Record")),
				"404": errResp("No such request (yet)."),
				"503": errResp("The store is unavailable."),
			},
		}},
		"/v1/models": obj{"get": obj{
			"operationId": "listModels",
			"summary":     "Live models: role, version, artifact, deadline, in-flight calls, state.",
			"responses":   obj{"200": jsonResp("The models.", ref("Models"))},
		}},
		"/healthz": obj{"get": obj{
			"operationId": "healthz", "summary": "The process is up.",
			"responses": obj{"200": jsonResp("Up.", obj{"type": "object", "properties": obj{"status": obj{"type": "string"}}})},
		}},
		"/readyz": obj{"get": obj{
			"operationId": "readyz", "summary": "Production model loaded, store reachable, recorder not degraded.",
			"responses": obj{"200": jsonResp("Ready.", ref("Readiness")), "503": jsonResp("Not ready, with reasons.", ref("Readiness"))},
		}},
		"/openapi.json": obj{"get": obj{
			"operationId": "openapi", "summary": "This document.",
			"responses": obj{"200": jsonResp("OpenAPI 3.1 document.", obj{"type": "object"})},
		}},
		"/metrics": obj{"get": obj{
			"operationId": "metrics", "summary": "Prometheus metrics.",
			"responses": obj{"200": obj{"description": "Prometheus text exposition format.", "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}},
		}},
	}
}

// compatPaths documents the configured compatibility routes and their
// schemas.
func compatPaths(cfg *config.Config, paths, comps obj, classes []int, words []string) {
	for _, rt := range cfg.Routes {
		name := "Compat_" + componentName(rt.Path)
		comps[name+"_Request"] = compatRequestSchema(cfg, rt)
		comps[name+"_Response"] = compatResponseSchema(cfg, rt, classes, words)
		reqSchema, respSchema := ref(name+"_Request"), ref(name+"_Response")
		if rt.Kind == config.RouteBatch {
			reqSchema = obj{"type": "array", "maxItems": cfg.Server.MaxBatch, "items": reqSchema}
			respSchema = obj{"type": "object", "required": []string{rt.BatchKey}, "properties": obj{
				rt.BatchKey: obj{"type": "array", "items": respSchema}}}
		}
		paths[rt.Path] = obj{"post": obj{
			"operationId": "compat_" + componentName(rt.Path),
			"summary":     fmt.Sprintf("Compatibility route (%s): the original service's request and response shape.", rt.Kind),
			"parameters":  []any{reqIDParam()},
			"requestBody": jsonBody(reqSchema),
			"responses":   predictErrors(cfg, obj{"200": jsonResp("The prediction in the original shape.", respSchema)}),
		}}
	}
}

// mountExtra documents the routes mounted through Params.Extra.
func mountExtra(paths, comps obj, extra []Route) error {
	for _, x := range extra {
		method, path, _ := strings.Cut(x.Pattern, " ")
		path = openAPIPath(path)
		op := x.Operation
		if op == nil {
			op = obj{"summary": x.Pattern, "responses": obj{"200": obj{"description": "OK"}}}
		}
		item, _ := paths[path].(obj)
		if item == nil {
			item = obj{}
			paths[path] = item
		}
		if _, dup := item[strings.ToLower(method)]; dup {
			return fmt.Errorf("extra route %q: %s %s is already documented", x.Pattern, method, path)
		}
		item[strings.ToLower(method)] = op
		if resps, ok := op["responses"].(obj); ok && x.JSONBody && resps["415"] == nil {
			resps["415"] = errResp("Content type is not JSON: this route changes state and takes application/json only.")
		}
		for name, s := range x.Schemas {
			if _, dup := comps[name]; dup {
				return fmt.Errorf("extra route %q: schema %q already defined", x.Pattern, name)
			}
			comps[name] = s
		}
	}
	return nil
}

// addSecurity makes every operation name the token scope it needs
// (auth.RouteScope); open routes take none.
func addSecurity(paths obj) {
	for path, item := range paths {
		for method, op := range item.(obj) {
			o, ok := op.(obj)
			if !ok || o["security"] != nil {
				continue
			}
			if scope, open := auth.RouteScope(strings.ToUpper(method), path); open {
				o["security"] = []any{}
			} else {
				o["security"] = auth.OpenAPISecurity(scope)
				if resps, ok := o["responses"].(obj); ok {
					resps["401"] = errResp("No token, or an unknown one (when the gateway has tokens configured).")
					resps["403"] = errResp(fmt.Sprintf("The token lacks scope %s.", scope))
				}
			}
		}
	}
}

// openAPIPath turns a net/http pattern path into an OpenAPI path: "{$}"
// (exact match) is dropped and "{rest...}" becomes "{rest}".
func openAPIPath(p string) string {
	p = strings.ReplaceAll(p, "{$}", "")
	p = strings.ReplaceAll(p, "...}", "}")
	if p == "" {
		p = "/"
	}
	return p
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

func componentName(path string) string {
	s := strings.Trim(nonName.ReplaceAllString(path, "_"), "_")
	if s == "" {
		s = "root"
	}
	return s
}

// fieldSchema is the JSON Schema of one declared field: the accepted values,
// plus sentinels and null when the field may be missing.
func fieldSchema(f schema.Field) obj {
	base := obj{"type": string(f.Type)}
	if len(f.Allowed) > 0 {
		base["enum"] = f.Allowed
	}
	if f.Min != nil {
		base["minimum"] = *f.Min
	}
	if f.Max != nil {
		base["maximum"] = *f.Max
	}
	var alts []any
	if len(f.Missing) > 0 {
		alts = append(alts, obj{"enum": f.Missing, "description": "Sentinel meaning missing."})
	}
	if !f.Required {
		alts = append(alts, obj{"type": "null"})
	}
	s := base
	if len(alts) > 0 {
		s = obj{"anyOf": append([]any{base}, alts...)}
	}
	if f.Description != "" {
		s["description"] = f.Description
	}
	if f.Default != nil {
		s["default"] = f.Default
	}
	return s
}

// inputSchema describes the input object; rename maps field → request key
// (compatibility routes).
func inputSchema(fields []schema.Field, rejectUnknown bool, rename func(string) string) obj {
	props := obj{}
	var req []string
	for _, f := range fields {
		key := f.Name
		if rename != nil {
			key = rename(f.Name)
		}
		props[key] = fieldSchema(f)
		if f.Required {
			req = append(req, key)
		}
	}
	s := obj{"type": "object", "properties": props}
	if len(req) > 0 {
		s["required"] = req
	}
	if rejectUnknown {
		s["additionalProperties"] = false
	}
	return s
}

func compatRequestSchema(cfg *config.Config, rt config.Route) obj {
	s := inputSchema(cfg.Schema.Fields, cfg.RejectUnknown(), rt.RequestKeyFor)
	props := s["properties"].(obj)
	var req []string
	if r, ok := s["required"].([]string); ok {
		for _, k := range r {
			if _, hasDefault := rt.Defaults[k]; !hasDefault {
				req = append(req, k)
			}
		}
	}
	for k, d := range rt.Defaults {
		if p, ok := props[k].(obj); ok {
			p["default"] = d
		}
	}
	if rt.EntityKey != "" {
		if _, isField := props[rt.EntityKey]; !isField {
			p := obj{"type": []string{"string", "number"}, "description": "Entity id, recorded and echoed."}
			if d, ok := rt.Defaults[rt.EntityKey]; ok {
				p["default"] = d
			}
			props[rt.EntityKey] = p
		}
	}
	delete(s, "required")
	if len(req) > 0 {
		s["required"] = req
	}
	return s
}

func compatResponseSchema(cfg *config.Config, rt config.Route, classes []int, words []string) obj {
	props := obj{}
	for _, k := range rt.Order() {
		switch v := rt.Response[k]; v {
		case "$prediction":
			props[k] = obj{"type": "integer", "enum": classes}
		case "$label":
			props[k] = obj{"type": "string", "enum": words}
		case "$probability":
			props[k] = obj{"type": "number", "minimum": 0, "maximum": 1}
		case "$fallback":
			props[k] = obj{"type": "boolean"}
		case "$entity_id", "$request_id", "$served_by":
			props[k] = obj{"type": "string"}
		default:
			props[k] = obj{"const": v}
		}
	}
	return obj{"type": "object", "required": rt.Order(), "properties": props}
}

// labelEnums returns the configured classes and words in class order.
func labelEnums(cfg *config.Config) ([]int, []string) {
	var classes []int
	for c := range cfg.Labels.Words {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	words := make([]string, len(classes))
	for i, c := range classes {
		words[i] = cfg.Labels.Words[c]
	}
	return classes, words
}

package api

import (
	"regexp"
	"strings"
	"unicode"
)

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// completeOperations fills in, for every operation of paths, what generated
// clients and linters (Redocly's recommended rules) need and the route
// definitions may leave out: an operationId (derived from the method and
// path when the route gives none), every path parameter of the path, and the
// 405 every route answers for a method it does not serve (a JSON Error with
// an Allow header), so each operation declares a 4xx response.
func completeOperations(paths obj) {
	for path, v := range paths {
		item, ok := v.(obj)
		if !ok {
			continue
		}
		for method, o := range item {
			op, ok := o.(obj)
			if !ok {
				continue
			}
			if _, ok := op["operationId"]; !ok {
				op["operationId"] = deriveOperationID(method, path)
			}
			addPathParameters(op, path)
			resps, _ := op["responses"].(obj)
			if resps == nil {
				resps = obj{"200": obj{"description": "OK"}}
				op["responses"] = resps
			}
			if _, ok := resps["405"]; !ok {
				resps["405"] = obj{"description": "Method not allowed: the path is served with the methods in Allow.",
					"headers": obj{"Allow": obj{"schema": obj{"type": "string"}}},
					"content": obj{"application/json": obj{"schema": ref("Error")}}}
			}
		}
	}
}

// addPathParameters declares each {name} of path that op does not.
func addPathParameters(op obj, path string) {
	params, _ := op["parameters"].([]any)
	declared := map[string]bool{}
	for _, p := range params {
		if m, ok := p.(obj); ok && m["in"] == "path" {
			name, _ := m["name"].(string)
			declared[name] = true
		}
	}
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		if !declared[m[1]] {
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
			declared[m[1]] = true
		}
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
}

// deriveOperationID names an operation from its method and path:
// GET /v2/models/{name}/ready → getV2ModelsByNameReady.
func deriveOperationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		if strings.HasPrefix(seg, "{") {
			b.WriteString("By")
			seg = strings.Trim(seg, "{}")
		}
		upper := true
		for _, r := range seg {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				upper = true
				continue
			}
			if upper {
				r = unicode.ToUpper(r)
				upper = false
			}
			b.WriteRune(r)
		}
	}
	if b.Len() == len(method) {
		b.WriteString("Root")
	}
	return b.String()
}

package api

// lifecycleComponents are the schemas of the model lifecycle routes
// (lifecycle.go).
func lifecycleComponents(comps obj) {
	str, num, boolean, integer := obj{"type": "string"}, obj{"type": "number"}, obj{"type": "boolean"}, obj{"type": "integer"}
	duration := obj{"type": "string", "description": `A Go duration, e.g. "80ms" or "2s".`, "examples": []any{"80ms"}}
	nullNum := obj{"type": []string{"number", "null"}}
	comps["FieldProblem"] = obj{"type": "object", "required": []string{"error"}, "properties": obj{
		"error": str,
		"field": obj{"type": "string", "description": "The body field (or query parameter) at fault."},
	}}
	comps["RemoteSpec"] = obj{"type": "object", "required": []string{"protocol", "url"}, "properties": obj{
		"protocol": obj{"type": "string", "enum": []string{"oip-v2", "mlflow"}}, "url": obj{"type": "string", "format": "uri"},
		"model": str, "version": str, "headers": obj{"type": "object", "additionalProperties": str},
		"pipeline": str, "probability_output": str, "class_output": str,
		"breaker_failures": integer, "breaker_cooldown": duration, "extra": obj{"type": "object"},
	}}
	comps["MemberSpec"] = obj{"type": "object", "required": []string{"name", "role"}, "additionalProperties": false,
		"description": "A model to add: exactly one of bundle, bundle_json or remote.",
		"properties": obj{
			"name":          str,
			"role":          obj{"type": "string", "enum": []string{"challenger", "canary"}},
			"deadline":      duration,
			"max_in_flight": obj{"type": "integer", "minimum": 0},
			"sample":        obj{"type": "number", "minimum": 0, "maximum": 1, "description": "Share of requests the model is called for, chosen by a hash of the request id (default 1)."},
			"paused":        boolean,
			"bundle":        obj{"type": "string", "description": "A bundle file on the server, relative to the configuration file."},
			"bundle_json":   obj{"type": "object", "description": "The bundle itself (its JSON)."},
			"remote":        ref("RemoteSpec"),
		}}
	comps["MemberPatch"] = obj{"type": "object", "additionalProperties": false, "description": "Only the fields given change.",
		"properties": obj{
			"role":          obj{"type": "string", "enum": []string{"challenger", "canary"}},
			"deadline":      duration,
			"max_in_flight": obj{"type": "integer", "minimum": 0},
			"sample":        obj{"type": "number", "minimum": 0, "maximum": 1},
			"paused":        boolean,
			"fallback":      obj{"type": "integer", "minimum": -1, "description": "Position in the fallback order (0: first backstop); -1 takes the model out (a shadow)."},
		}}
	comps["PromoteRequest"] = obj{"type": "object", "additionalProperties": false, "properties": obj{
		"force":  obj{"type": "boolean", "description": "Promote even though the gate refuses (recorded as forced; needs a reason)."},
		"reason": str,
	}}
	comps["ReasonRequest"] = obj{"type": "object", "additionalProperties": false, "properties": obj{"reason": str}}
	comps["MemberRole"] = obj{"type": "object", "required": []string{"name", "role"}, "properties": obj{"name": str, "role": str}}
	comps["GateResult"] = obj{"type": "object", "required": []string{"pass", "rule", "comparison"}, "properties": obj{
		"pass": boolean, "rule": str, "refusals": obj{"type": "array", "items": str}, "margin": num,
		"challenger_p99_ms": num, "max_p99_ms": num,
		"comparison": obj{"type": "object", "description": "The live comparison (as GET /v1/compare).", "properties": obj{
			"production": str, "challenger": str, "pairs": integer, "min_pairs": integer,
			"production_accuracy": nullNum, "challenger_accuracy": nullNum, "difference": nullNum,
			"ci95_low": nullNum, "ci95_high": nullNum, "production_only_right": integer, "challenger_only_right": integer,
			"mcnemar_p_value": nullNum, "verdict": str,
		}},
	}}
	comps["DeploymentEvent"] = obj{"type": "object", "required": []string{"seq", "time", "kind", "actor", "before", "after", "forced"}, "properties": obj{
		"seq":    obj{"type": "integer", "description": "Assigned by the store, increasing in append order."},
		"time":   obj{"type": "string", "format": "date-time"},
		"kind":   obj{"type": "string", "enum": []string{"add", "remove", "patch", "promote", "rollback", "reload"}},
		"model":  str,
		"actor":  obj{"type": "string", "description": `Who asked (the token's name; "local" without access control).`},
		"before": obj{"type": "array", "items": ref("MemberRole")},
		"after":  obj{"type": "array", "items": ref("MemberRole")},
		"gate":   obj{"description": "The promotion gate's figures (promote only).", "oneOf": []any{ref("GateResult"), obj{"type": "null"}}},
		"reason": str,
		"forced": boolean,
		"state":  obj{"type": "object", "description": "The whole deployment after the change (members with their sources, fallback order); replayed at start."},
	}}
	comps["DeploymentChange"] = obj{"type": "object", "required": []string{"event"}, "properties": obj{
		"event":   ref("DeploymentEvent"),
		"warning": obj{"type": "string", "description": "The change is live but its event was not stored (it will not survive a restart)."},
		"gate":    ref("GateResult"),
	}}
	comps["PromotionRefused"] = obj{"type": "object", "required": []string{"error", "gate"}, "properties": obj{"error": str, "gate": ref("GateResult")}}
	comps["ReloadRefused"] = obj{"type": "object", "required": []string{"error", "problems"}, "properties": obj{
		"error": str, "problems": obj{"type": "array", "items": str}}}
	comps["DeploymentEvents"] = obj{"type": "object", "required": []string{"events"}, "properties": obj{
		"events": obj{"type": "array", "items": ref("DeploymentEvent")}}}
}

// lifecyclePaths documents the model lifecycle routes.
func lifecyclePaths(paths obj) {
	nameParam := obj{"name": "name", "in": "path", "required": true, "schema": obj{"type": "string"}, "description": "The model's name."}
	change := func(desc string) obj { return jsonResp(desc, ref("DeploymentChange")) }
	bad := jsonResp("A field is invalid: the error names it.", ref("FieldProblem"))
	forbidden := errResp("Not a loopback client (until access control gives an admin scope).")
	optional := func(s obj) obj { return obj{"required": false, "content": obj{"application/json": obj{"schema": s}}} }
	models, _ := paths["/v1/models"].(obj)
	models["post"] = obj{
		"operationId": "addModel",
		"summary":     "Add a challenger or canary at runtime (a bundle on the server, an uploaded bundle, or a remote model).",
		"requestBody": jsonBody(ref("MemberSpec")),
		"responses": obj{"201": change("Added: the deployment event."), "400": bad, "403": forbidden,
			"409": errResp("A model of that name is deployed, or a second canary.")},
	}
	paths["/v1/models/{name}"] = obj{
		"delete": obj{
			"operationId": "removeModel", "summary": "Remove a challenger or the canary (never production).",
			"parameters": []any{nameParam},
			"responses": obj{"200": change("Removed."), "403": forbidden, "404": errResp("No such model."),
				"409": errResp("It is the production model: promote another first.")},
		},
		"patch": obj{
			"operationId": "patchModel", "summary": "Change a model's deadline, cap, sample, pause, role (challenger ↔ canary) or fallback position.",
			"parameters": []any{nameParam}, "requestBody": jsonBody(ref("MemberPatch")),
			"responses": obj{"200": change("Changed."), "400": bad, "403": forbidden, "404": errResp("No such model.")},
		},
	}
	paths["/v1/models/{name}/promote"] = obj{"post": obj{
		"operationId": "promoteModel",
		"summary":     "Make a challenger production through the promotion gate; the old production model becomes a challenger.",
		"parameters":  []any{nameParam}, "requestBody": optional(ref("PromoteRequest")),
		"responses": obj{"200": change("Promoted: the event and the gate's figures."), "400": bad, "403": forbidden,
			"404": errResp("No such model."), "409": jsonResp("The gate refused (its figures), or the model is production already.", ref("PromotionRefused")),
			"503": errResp("The live comparison cannot be read.")},
	}}
	paths["/v1/rollback"] = obj{"post": obj{
		"operationId": "rollback", "summary": "Restore the deployment before the last change (up to 16 back).",
		"requestBody": optional(ref("ReasonRequest")),
		"responses":   obj{"200": change("Rolled back."), "403": forbidden, "409": errResp("No earlier deployment.")},
	}}
	paths["/v1/reload"] = obj{"post": obj{
		"operationId": "reload", "summary": "Re-read the configuration file and bundles and apply the difference.",
		"responses": obj{"200": change("Reloaded."), "400": jsonResp("The file is invalid: every problem; the running deployment is kept.", ref("ReloadRefused")),
			"403": forbidden, "501": errResp("The server was started without a configuration file to reload.")},
	}}
	paths["/v1/deployments"] = obj{"get": obj{
		"operationId": "listDeployments", "summary": "The deployment history: every change, oldest first.",
		"parameters": []any{obj{"name": "limit", "in": "query", "required": false, "schema": obj{"type": "integer", "minimum": 0},
			"description": "Only the newest limit events (still oldest first); 0 or absent: all."}},
		"responses": obj{"200": jsonResp("The events.", ref("DeploymentEvents")), "400": bad,
			"503": errResp("The server runs without a store (no history is kept).")},
	}}
}

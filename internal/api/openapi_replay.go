package api

// replayComponents are the schemas of POST /v1/replay (replay.go).
func replayComponents(comps obj) {
	str, integer, num := obj{"type": "string"}, obj{"type": "integer"}, obj{"type": "number"}
	comps["ReplayCandidate"] = obj{"type": "object", "additionalProperties": false,
		"description": "The model to replay: exactly one of bundle, bundle_json or remote (loaded as POST /v1/models loads one).",
		"properties": obj{
			"bundle":      obj{"type": "string", "description": "A bundle file on the server, relative to the configuration file."},
			"bundle_json": obj{"type": "object", "description": "The bundle itself (its JSON)."},
			"remote":      ref("RemoteSpec"),
		}}
	comps["ReplayRequest"] = obj{"type": "object", "required": []string{"candidate"}, "additionalProperties": false, "properties": obj{
		"candidate":   ref("ReplayCandidate"),
		"name":        obj{"type": "string", "description": "The name results are stored and compared under (default: the bundle's; required for a remote model; not production's)."},
		"since":       obj{"type": "string", "format": "date-time", "description": "Only requests received at or after this time."},
		"until":       obj{"type": "string", "format": "date-time", "description": "Only requests received before this time."},
		"sample":      obj{"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1, "description": "Share of the requests replayed, chosen by request id (every rerun sees the same ones)."},
		"concurrency": obj{"type": "integer", "minimum": 0, "description": "Scoring goroutines (0 or absent: the server's CPUs)."},
	}}
	stats := obj{
		"candidate": str, "version": str, "artifact": str,
		"read": integer, "rejected": integer, "not_sampled": integer,
		"skipped": obj{"type": "object", "additionalProperties": integer, "description": "Inputs the candidate cannot take, by reason."},
		"scored":  integer, "errors": integer, "written": integer, "already_stored": integer,
		"elapsed_ns": integer,
	}
	comps["ReplayStats"] = obj{"type": "object", "required": []string{"candidate", "version", "read", "scored", "written", "already_stored"}, "properties": stats}
	progress := obj{"fraction": obj{"type": "number", "minimum": 0, "maximum": 1, "description": "Share of the window's time span read."}, "rate": num}
	for k, v := range stats {
		progress[k] = v
	}
	comps["ReplayProgress"] = obj{"type": "object", "description": "The running statistics (as ReplayStats), the share read and records per second.", "properties": progress}
	comps["ReplayOutcome"] = obj{"type": "object", "required": []string{"replay", "report"}, "properties": obj{
		"replay": ref("ReplayStats"),
		"report": obj{"type": "object", "description": "The candidate against production, as GET /v1/compare?challenger=NAME answers (source replay)."},
	}}
}

// replayPaths documents POST /v1/replay.
func replayPaths(paths obj) {
	paths["/v1/replay"] = obj{"post": obj{
		"operationId": "replay",
		"summary":     "Replay the store's archived inputs through a candidate model and compare it with production (rendezvous replay --server).",
		"description": "Scores the validated input of every accepted request in the window through the candidate, stores each answer as a replay result (a rerun writes nothing new) and answers with the statistics and the comparison report. " +
			"With Accept: application/x-ndjson the answer streams one {\"progress\": ReplayProgress} line a second and one at the end, then {\"result\": ReplayOutcome} (or {\"error\", \"field\"}). " +
			"One replay at a time per server. A client that goes away cancels the run; the results written stay.",
		"requestBody": jsonBody(ref("ReplayRequest")),
		"responses": obj{
			"200": obj{"description": "The replay's statistics and report.", "content": obj{
				"application/json": obj{"schema": ref("ReplayOutcome")},
				"application/x-ndjson": obj{"schema": obj{"type": "object", "description": "One line each: {\"progress\": ReplayProgress}, then {\"result\": ReplayOutcome} or {\"error\": …, \"field\": …}.",
					"properties": obj{"progress": ref("ReplayProgress"), "result": ref("ReplayOutcome"), "error": obj{"type": "string"}, "field": obj{"type": "string"}}}},
			}},
			"400": jsonResp("A field is invalid (the candidate cannot be loaded, a bad window or sample, production's name): the error names it.", ref("FieldProblem")),
			"403": errResp("Not a loopback client (until access control gives an admin scope)."),
			"409": errResp("A replay is already running on this server."),
			"503": errResp("The server keeps no replay results (no record store)."),
		},
	}}
}

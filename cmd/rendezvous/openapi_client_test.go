package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// openapiTools is where scripts/openapi/package.json's tools are installed
// (npm ci --prefix scripts/openapi, as .ci/run does).
const openapiTools = "../../scripts/openapi"

// TestOpenAPI_LintCleanAndAGeneratedClientWorks serves the gateway, lints
// its /openapi.json with Redocly CLI (recommended rules, .redocly.yaml),
// generates TypeScript types from it with openapi-typescript, type-checks a
// client written against them (openapi-fetch) with tsc, and runs it: it
// predicts, sends the label as feedback and reads the metrics through the
// generated types, against the real server.
func TestOpenAPI_LintCleanAndAGeneratedClientWorks(t *testing.T) {
	bin := func(name string) string { return filepath.Join(openapiTools, "node_modules", ".bin", name) }
	for _, tool := range []string{"node", bin("redocly"), bin("openapi-typescript"), bin("tsc")} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing: %v", tool, err)
			}
			t.Skipf("%s missing (%v): run npm ci --prefix scripts/openapi (needs node)", tool, err)
		}
	}
	srv := startServer(t)
	resp, err := http.Get(srv.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d %v", resp.StatusCode, err)
	}
	// The client's files live under scripts/openapi so that tsc and node
	// find its node_modules.
	work, err := os.MkdirTemp(openapiTools, "work-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("openapi.json", string(doc))
	write("package.json", `{"type": "module"}`)
	write("client.ts", clientTS)
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, abs(name), args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	lint := run(bin("redocly"), "lint", "--format", "stylish", "--config", abs("../../.redocly.yaml"), "openapi.json")
	if regexp.MustCompile(`(?m)^\s+\d+:\d+\s+(warning|error)`).MatchString(lint) {
		t.Errorf("redocly lint warns:\n%s", lint)
	}
	run(bin("openapi-typescript"), "openapi.json", "-o", "schema.d.ts")
	run(bin("tsc"), "--strict", "--noEmitOnError", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", "client.ts")
	nodePath, _ := exec.LookPath("node")
	out := run(nodePath, "client.js", srv.base)
	var got struct {
		Prediction struct {
			RequestID   string  `json:"request_id"`
			Prediction  int     `json:"prediction"`
			Probability float64 `json:"probability"`
		} `json:"prediction"`
		Feedback struct {
			Accepted int `json:"accepted"`
		} `json:"feedback"`
		Metrics map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if got.Prediction.RequestID == "" || got.Prediction.Probability <= 0 || got.Prediction.Probability >= 1 {
		t.Errorf("prediction through the generated client: %+v", got.Prediction)
	}
	if got.Feedback.Accepted != 1 {
		t.Errorf("feedback through the generated client accepted %d, want 1", got.Feedback.Accepted)
	}
	if len(got.Metrics) == 0 {
		t.Errorf("metrics through the generated client: empty")
	}
}

// clientTS is a client written against the types openapi-typescript
// generates from /openapi.json: a request or response that does not match
// the document fails tsc.
const clientTS = `import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

declare const process: { argv: string[] }; // node's, without @types/node

const client = createClient<paths>({ baseUrl: process.argv[2] });

const p = await client.POST("/v1/predict", {
  body: { entity_id: "892", input: { pclass: 3, sex: "male", age: 34.5, sibsp: 0, parch: 0, fare: 7.83, embarked: "Q" } },
});
if (p.error || !p.data || !("prediction" in p.data)) throw new Error("predict: " + JSON.stringify(p.error));
const prediction = p.data;

// The record is written asynchronously: retry while the gateway does not know the request yet.
let feedback;
for (let i = 0; i < 50; i++) {
  const f = await client.POST("/v1/feedback", { body: { request_id: prediction.request_id, label: 0 } });
  if (f.error || !f.data) throw new Error("feedback: " + JSON.stringify(f.error));
  feedback = f.data;
  if (feedback.accepted === 1) break;
  await new Promise((r) => setTimeout(r, 100));
}

const m = await client.GET("/v1/metrics", { params: { query: {} } });
if (m.error || !m.data) throw new Error("metrics: " + JSON.stringify(m.error));

console.log(JSON.stringify({ prediction, feedback, metrics: m.data }));
`

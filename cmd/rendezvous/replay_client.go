package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
)

// replayLine is one line of POST /v1/replay's NDJSON answer.
type replayLine struct {
	Progress *monitor.ReplayProgress `json:"progress"`
	Result   *replayOutcome          `json:"result"`
	Error    string                  `json:"error"`
	Field    string                  `json:"field"`
}

// replayOnServer asks the gateway at --server to replay each candidate
// over its own store (POST /v1/replay, one after the other), drawing the
// streamed progress.
func replayOnServer(ctx context.Context, f *replayFlags, stderr io.Writer) ([]replayOutcome, error) {
	var noTimeout time.Duration // a replay takes as long as it takes
	c, err := clientFlags{server: &f.server, token: &f.token, timeout: &noTimeout}.client()
	if err != nil {
		return nil, err
	}
	win, err := parseWindow(*f.ws.since, *f.ws.until, time.Now())
	if err != nil {
		return nil, err
	}
	body := map[string]any{"sample": f.sample}
	if f.set["concurrency"] {
		body["concurrency"] = f.concurrency // else the gateway's CPUs
	}
	if f.name != "" {
		body["name"] = f.name
	}
	if !win.Since.IsZero() {
		body["since"] = win.Since.Format(time.RFC3339Nano)
	}
	if !win.Until.IsZero() {
		body["until"] = win.Until.Format(time.RFC3339Nano)
	}
	type cand struct {
		label, key string
		v          any
	}
	var cands []cand
	for _, path := range f.candidates {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--candidate: %w", err)
		}
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: --candidate %s: not a JSON model bundle", errUsage, path)
		}
		cands = append(cands, cand{path, "bundle_json", json.RawMessage(raw)})
	}
	for _, path := range f.bundlePaths {
		cands = append(cands, cand{path, "bundle", path})
	}
	if f.remote != "" {
		spec := map[string]string{"protocol": f.protocol, "url": f.remote, "model": f.remoteModel}
		cands = append(cands, cand{f.remote, "remote", spec})
	}
	var outs []replayOutcome
	for _, cd := range cands {
		body["candidate"] = map[string]any{cd.key: cd.v}
		out, err := streamReplay(ctx, c, body, newReplayProgress(stderr, cmpName(f.name, cd.label)))
		if err != nil {
			return nil, fmt.Errorf("replay %s on %s: %w", cd.label, c.base, err)
		}
		outs = append(outs, out)
	}
	return outs, nil
}

// cmpName is the progress bar's label: --name, else the candidate.
func cmpName(name, label string) string {
	if name != "" {
		return name
	}
	return label
}

// streamReplay posts one replay and reads its NDJSON answer.
func streamReplay(ctx context.Context, c *adminClient, body map[string]any, bar *replayProgress) (replayOutcome, error) {
	defer bar.done()
	rd, err := c.stream(ctx, "POST", "/v1/replay", body, "application/x-ndjson")
	if err != nil {
		return replayOutcome{}, err
	}
	defer rd.Close()
	br := bufio.NewReader(rd)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var l replayLine
			if jerr := json.Unmarshal(line, &l); jerr != nil {
				return replayOutcome{}, fmt.Errorf("unexpected answer line: %w", jerr)
			}
			switch {
			case l.Progress != nil:
				bar.update(*l.Progress)
			case l.Result != nil:
				return *l.Result, nil
			case l.Error != "":
				return replayOutcome{}, errors.New(l.Error)
			}
		}
		if errors.Is(err, io.EOF) {
			return replayOutcome{}, errors.New("the gateway ended the answer without a result")
		}
		if err != nil {
			return replayOutcome{}, fmt.Errorf("read answer: %w", err)
		}
	}
}

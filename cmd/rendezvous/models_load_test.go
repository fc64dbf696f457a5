package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/simulate"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// loadSettings are the rate and duration of the lifecycle load test:
// 500 req/s for 4 s, or RENDEZVOUS_LOAD_RATE / RENDEZVOUS_LOAD_DURATION
// (bench/lifecycle-load.sh runs it longer, without the race detector).
func loadSettings(t *testing.T) (rate string, duration time.Duration) {
	rate, duration = "500", 4*time.Second
	if r := os.Getenv("RENDEZVOUS_LOAD_RATE"); r != "" {
		rate = r
	}
	if d := os.Getenv("RENDEZVOUS_LOAD_DURATION"); d != "" {
		var err error
		if duration, err = time.ParseDuration(d); err != nil {
			t.Fatalf("RENDEZVOUS_LOAD_DURATION: %v", err)
		}
	}
	return rate, duration
}

// roleSet renders member roles as "a=production b=challenger" in name order.
func roleSet(rs []store.MemberRole) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Name + "=" + r.Role
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// TestModels_UnderLoadNoRequestFailsNoRecordIsLostAndEachNamesItsDeployment
// sends open-loop traffic (`rendezvous simulate`, 500 req/s) while a
// challenger is added, promoted, rolled back and removed by a reload, on
// a schedule spread over the run. Every request must succeed, every one
// must be stored after shutdown, and each record's decision.deployment
// must name a deployment whose members and roles are exactly the record's.
func TestModels_UnderLoadNoRequestFailsNoRecordIsLostAndEachNamesItsDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 2,000 requests at 500 req/s")
	}
	rate, duration := loadSettings(t)
	ts := startFileServer(t)
	srv := []string{"--server", ts.base, "--json"}

	simOut := make(chan []byte, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"simulate", "--target", ts.base, "--rate", rate, "--duration", duration.String(),
			"--seed", "7", "--json"}, &out, &errOut)
		if code != 0 {
			out.WriteString(fmt.Sprintf("exit %d: %s", code, errOut.String()))
		}
		simOut <- out.Bytes()
	}()

	// The changes, spread over the run (a schedule, not synchronisation).
	rolesBySeq := map[int64]string{}
	changes := [][]string{
		{"models", "add", "new-logreg", "--bundle", "models/dev-logreg.json", "--sample", "0.5"},
		{"models", "promote", "new-logreg", "--force", "--reason", "load test"},
		{"models", "rollback"},
		{"models", "reload"},
	}
	start := time.Now()
	for i, c := range changes {
		<-time.After(time.Until(start.Add(duration * time.Duration(i+1) / time.Duration(len(changes)+1))))
		out, code := runCLI(t, append(c, srv...)...)
		if code != 0 {
			t.Fatalf("%v under load: exit %d: %s", c, code, out)
		}
		var body struct {
			Event *store.DeploymentEvent `json:"event"`
		}
		if err := json.Unmarshal([]byte(out), &body); err != nil || body.Event == nil {
			t.Fatalf("%v: %v in %s", c, err, out)
		}
		if i == 0 {
			rolesBySeq[0] = roleSet(body.Event.Before)
		}
		rolesBySeq[body.Event.Seq] = roleSet(body.Event.After)
	}

	raw := <-simOut
	var sum simulate.Summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("simulate: %v: %s", err, raw)
	}
	t.Logf("simulate: sent %d, ok %d, achieved %.0f req/s, p50 %v, p99 %v, max %v; deployments %v",
		sum.Sent, sum.OK, sum.Rate, sum.P50, sum.P99, sum.Max, slices.Sorted(maps.Keys(rolesBySeq)))
	if sum.Sent == 0 || sum.OK != sum.Sent || len(sum.Errors) > 0 || sum.Unavailable > 0 {
		t.Errorf("simulate: sent %d, ok %d, errors %v (%s), unavailable %d: want every request answered",
			sum.Sent, sum.OK, sum.Errors, sum.FirstError, sum.Unavailable)
	}
	ts.stop() // a clean shutdown flushes every record
	checkRecordsNameTheirDeployment(t, ts.storeURL, sum.OK, rolesBySeq)
}

// checkRecordsNameTheirDeployment reads every stored record: want of them,
// all ok, each with a deployment in rolesBySeq whose roles are the
// record's, and every deployment serving some.
func checkRecordsNameTheirDeployment(t *testing.T, storeURL string, want int64, rolesBySeq map[int64]string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	perSeq := map[int64]int{}
	var n int64
	err = st.ScanRecords(context.Background(), store.ScanParams{}, func(rec *record.Record) error {
		n++
		if rec.Status != record.RequestOK || rec.Decision == nil {
			return fmt.Errorf("record %s: status %s", rec.ID, rec.Status)
		}
		seq := rec.Decision.Deployment
		roles, ok := rolesBySeq[seq]
		if !ok {
			return fmt.Errorf("record %s names deployment %d, which no change made", rec.ID, seq)
		}
		var got []store.MemberRole
		for name, m := range rec.Models {
			got = append(got, store.MemberRole{Name: name, Role: string(m.Role)})
		}
		if roleSet(got) != roles {
			return fmt.Errorf("record %s (deployment %d) has models %s, want %s", rec.ID, seq, roleSet(got), roles)
		}
		perSeq[seq]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("records per deployment: %v", perSeq)
	if n != want {
		t.Errorf("%d records stored, want %d (one per answered request)", n, want)
	}
	for seq := range rolesBySeq {
		if perSeq[seq] == 0 {
			t.Errorf("no record names deployment %d: the changes were not spread over the traffic", seq)
		}
	}
}

// sampledOverHTTP starts a gateway, adds challenger "ch" with sample 0.1
// through the CLI, sends 20,000 requests in batches of 100 (under the
// default admission limit) with
// client-chosen ids (instance i of batch b is "sb.i"), and returns the ids
// the challenger was called for (the others are recorded skipped).
func sampledOverHTTP(t *testing.T) map[string]bool {
	t.Helper()
	// A long shutdown: Close then writes everything (a record spooled while
	// SQLite under the race detector lags is stored, not left for the
	// next start).
	// Production alone besides the challenger keeps the records small.
	ts := startServerWith(t, func(c *config.Config) {
		c.Server.ShutdownTimeout = 5 * time.Minute
		c.Models = c.Models[:1]
		c.Policy.Fallback = nil
	})
	if out, code := runCLI(t, "models", "add", "ch", "--bundle", "models/dev-logreg.json", "--sample", "0.1", "--deadline", "5s", "--server", ts.base); code != 0 {
		t.Fatalf("models add: %s", out)
	}
	instance := map[string]any{"pclass": 3, "sex": "male", "age": 34.5, "sibsp": 0, "parch": 0, "fare": 7.83, "embarked": "Q"}
	instances := make([]any, 100)
	for i := range instances {
		instances[i] = map[string]any{"input": instance}
	}
	body, err := json.Marshal(map[string]any{"instances": instances})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for b := range 200 {
		req, err := http.NewRequest(http.MethodPost, ts.base+"/v1/predict", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", fmt.Sprintf("s%d", b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("batch %d: status %d: %.300s", b, resp.StatusCode, msg)
		}
	}
	sent := time.Since(start)
	ts.stop()
	t.Logf("20,000 requests sent in %v, stored %v later", sent.Round(time.Millisecond), (time.Since(start) - sent).Round(time.Millisecond))
	st, err := sqlite.Open(context.Background(), ts.storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]bool{}
	n := 0
	err = st.ScanRecords(context.Background(), store.ScanParams{}, func(rec *record.Record) error {
		n++
		m, ok := rec.Models["ch"]
		switch {
		case !ok:
			return fmt.Errorf("%s: no result for the challenger", rec.ID)
		case m.Status == record.StatusSkipped && !strings.Contains(m.Error, "sample"):
			return fmt.Errorf("%s: challenger skipped, but not for the sample: %s", rec.ID, m.Error)
		case m.Status != record.StatusSkipped:
			seen[rec.ID] = true // called (ok, or late on a busy machine)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 20000 {
		t.Fatalf("%d records, want 20000", n)
	}
	return seen
}

// TestModels_SampleOverHTTPIsATenthAndTheSameOnARerun: a challenger added
// with --sample 0.1 is called for 10 % ± 1 % of 20,000 requests, and for
// the same requests when the same ids are sent to a fresh gateway.
func TestModels_SampleOverHTTPIsATenthAndTheSameOnARerun(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 40,000 requests")
	}
	first := sampledOverHTTP(t)
	share := float64(len(first)) / 20000
	t.Logf("challenger called for %d of 20000 requests (%.4f)", len(first), share)
	if share < 0.09 || share > 0.11 {
		t.Errorf("challenger saw %.4f of the requests, want 0.10 ± 0.01", share)
	}
	second := sampledOverHTTP(t)
	if !maps.Equal(first, second) {
		t.Errorf("rerun sampled %d requests, first run %d, not the same ones", len(second), len(first))
	}
}

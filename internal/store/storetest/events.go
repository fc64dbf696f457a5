package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// The event log's contract (store.EventLog), beyond its doc comments:
//   - Seq is assigned by the store, strictly increasing in append order and
//     unique under concurrent appends (gaps are allowed).
//   - Time comes back in UTC, truncated to the microsecond.
//   - Gate and State come back as equal JSON (compacted); every other field
//     exactly, including empty Before/After lists and U+0000 in strings.
//   - ListEvents(limit > 0) returns the newest limit events, oldest first;
//     limit <= 0 returns them all; an empty log gives an empty slice.

// eventTests are the event log's part of the suite (Run runs them too).
var eventTests = []struct {
	name string
	fn   func(t *testing.T, open func(t *testing.T) store.Store)
}{
	{"EventsRoundTripEveryFieldInAppendOrder", testEventsRoundTrip},
	{"ListEventsKeepsTheNewestLimitOldestFirst", testEventsLimit},
	{"ConcurrentAppendEventsGetDistinctIncreasingSeqs", testEventsConcurrent},
	{"CancelledContextFailsEventCalls", testEventsCancel},
}

// RunEvents runs only the event log's part of the suite, for a backend
// whose record round trip cannot pass in full (FerretDB on PostgreSQL).
func RunEvents(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	for _, tc := range eventTests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, func(*testing.T) store.Store { return s })
		})
	}
}

// eventLog returns s as a store.EventLog, failing the test when the backend
// does not keep deployment events.
func eventLog(t *testing.T, s store.Store) store.EventLog {
	t.Helper()
	ev, ok := s.(store.EventLog)
	if !ok {
		t.Fatalf("%T does not implement store.EventLog: every backend keeps the deployment history", s)
	}
	return ev
}

// FullEvent is an event with every field set (Seq left to the store); i
// varies it.
func FullEvent(i int, at time.Time) store.DeploymentEvent {
	return store.DeploymentEvent{
		Time:   at,
		Kind:   []string{"add", "promote", "patch", "rollback", "remove", "reload"}[i%6],
		Model:  fmt.Sprintf("challenger-%d", i),
		Actor:  fmt.Sprintf("ops-token-%d ünïcode \x00 nul", i),
		Before: []store.MemberRole{{Name: "prod", Role: "production"}, {Name: fmt.Sprintf("challenger-%d", i), Role: "challenger"}},
		After:  []store.MemberRole{{Name: fmt.Sprintf("challenger-%d", i), Role: "production"}, {Name: "prod", Role: "challenger"}},
		Gate: json.RawMessage(fmt.Sprintf(`{"pairs":%d,"verdict":"no_difference","diff":-0.0331,"ci":[-0.066,-0.0005],"p":0.065,"allowed":false,"nested":{"a":[1,2.5,"x"]}}`,
			100+i)),
		Reason: fmt.Sprintf("reason %d: \"quoted\" and 😀", i),
		Forced: i%2 == 1,
		State: json.RawMessage(fmt.Sprintf(`{"members":[{"name":"challenger-%d","role":"production","sample":1,"bundle":"models/c.json"},{"name":"prod","role":"challenger","sample":0.25,"paused":true,"deadline":"250ms"}],"fallback":["prod"]}`,
			i)),
	}
}

// wantEvent is ev as the store gives it back with seq.
func wantEvent(ev store.DeploymentEvent, seq int64) store.DeploymentEvent {
	ev.Seq = seq
	ev.Time = ev.Time.UTC().Truncate(time.Microsecond)
	return ev
}

func compactJSON(t *testing.T, field string, b json.RawMessage) string {
	t.Helper()
	if len(b) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("%s is not JSON: %v: %q", field, err, b)
	}
	return buf.String()
}

func equalEvent(t *testing.T, got, want store.DeploymentEvent) {
	t.Helper()
	if g, w := compactJSON(t, "Gate", got.Gate), compactJSON(t, "Gate", want.Gate); g != w {
		t.Errorf("event %d Gate = %s, want %s", want.Seq, g, w)
	}
	if g, w := compactJSON(t, "State", got.State), compactJSON(t, "State", want.State); g != w {
		t.Errorf("event %d State = %s, want %s", want.Seq, g, w)
	}
	got.Gate, got.State, want.Gate, want.State = nil, nil, nil, nil
	if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
		t.Errorf("event %d Time = %v, want %v in UTC", want.Seq, got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event differs:\n got %+v\nwant %+v", got, want)
	}
}

func appendEvent(t *testing.T, l store.EventLog, ev store.DeploymentEvent) store.DeploymentEvent {
	t.Helper()
	got, err := l.AppendEvent(t.Context(), ev)
	if err != nil {
		t.Fatalf("AppendEvent(%s %s): %v", ev.Kind, ev.Model, err)
	}
	return got
}

func listEvents(t *testing.T, l store.EventLog, limit int) []store.DeploymentEvent {
	t.Helper()
	evs, err := l.ListEvents(t.Context(), limit)
	if err != nil {
		t.Fatalf("ListEvents(%d): %v", limit, err)
	}
	return evs
}

func testEventsRoundTrip(t *testing.T, open func(t *testing.T) store.Store) {
	l := eventLog(t, open(t))
	if evs := listEvents(t, l, 0); len(evs) != 0 {
		t.Fatalf("a new store lists %d events, want none", len(evs))
	}
	var want []store.DeploymentEvent
	var last int64
	for i := range 4 {
		ev := FullEvent(i, t0.Add(time.Duration(i)*time.Second).In(time.FixedZone("CET", 3600)))
		got := appendEvent(t, l, ev)
		if got.Seq <= last {
			t.Fatalf("event %d got Seq %d after %d, want strictly increasing", i, got.Seq, last)
		}
		last = got.Seq
		w := wantEvent(ev, got.Seq)
		equalEvent(t, got, w)
		want = append(want, w)
	}
	// Optional fields left empty stay empty.
	bare := store.DeploymentEvent{Time: t0.Add(time.Minute), Kind: "rollback", Actor: "local",
		Before: []store.MemberRole{}, After: []store.MemberRole{{Name: "prod", Role: "production"}}}
	got := appendEvent(t, l, bare)
	want = append(want, wantEvent(bare, got.Seq))
	evs := listEvents(t, l, 0)
	if len(evs) != len(want) {
		t.Fatalf("ListEvents(0) gave %d events, want %d", len(evs), len(want))
	}
	for i := range want {
		equalEvent(t, evs[i], want[i])
	}
}

func testEventsLimit(t *testing.T, open func(t *testing.T) store.Store) {
	l := eventLog(t, open(t))
	var seqs []int64
	for i := range 7 {
		// Times out of order on purpose: the order is the append order.
		seqs = append(seqs, appendEvent(t, l, FullEvent(i, t0.Add(time.Duration(7-i)*time.Second))).Seq)
	}
	for _, tc := range []struct {
		limit int
		want  []int64
	}{
		{0, seqs},
		{-1, seqs},
		{1, seqs[6:]},
		{3, seqs[4:]},
		{7, seqs},
		{100, seqs},
	} {
		evs := listEvents(t, l, tc.limit)
		var got []int64
		for _, ev := range evs {
			got = append(got, ev.Seq)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ListEvents(%d) seqs = %v, want %v (the newest, oldest first)", tc.limit, got, tc.want)
		}
	}
}

func testEventsConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	l := eventLog(t, open(t))
	const writers, each = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := l.AppendEvent(t.Context(), FullEvent(w*each+i, t0)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AppendEvent: %v", err)
	}
	evs := listEvents(t, l, 0)
	if len(evs) != writers*each {
		t.Fatalf("ListEvents gave %d events after %d appends", len(evs), writers*each)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Errorf("seqs not strictly increasing: %d then %d", evs[i-1].Seq, evs[i].Seq)
		}
	}
}

func testEventsCancel(t *testing.T, open func(t *testing.T) store.Store) {
	l := eventLog(t, open(t))
	appendEvent(t, l, FullEvent(0, t0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.AppendEvent(ctx, FullEvent(1, t0)); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendEvent(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if _, err := l.ListEvents(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ListEvents(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if n := len(listEvents(t, l, 0)); n != 1 {
		t.Errorf("a cancelled AppendEvent stored its event: %d events, want 1", n)
	}
}

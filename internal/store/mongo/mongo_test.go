package mongo

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want Config
	}{
		{"mongodb://127.0.0.1:27017", Config{URI: "mongodb://127.0.0.1:27017",
			Database: "rendezvous", Records: "records", Feedback: "feedback", Events: "deployment_events", ConnectTimeout: 10 * time.Second}},
		{"mongodb://u:p%40ss@db1:27017,db2:27017/analytics?replicaSet=rs0&records=req&feedback=labels&connect_timeout=3s&authSource=admin",
			Config{URI: "mongodb://u:p%40ss@db1:27017,db2:27017/analytics?replicaSet=rs0&authSource=admin",
				Database: "analytics", Records: "req", Feedback: "labels", Events: "deployment_events", ConnectTimeout: 3 * time.Second}},
		{"mongodb+srv://u:p@cluster0.example.net/?retryWrites=true&w=majority",
			Config{URI: "mongodb+srv://u:p@cluster0.example.net/?retryWrites=true&w=majority",
				Database: "rendezvous", Records: "records", Feedback: "feedback", Events: "deployment_events", ConnectTimeout: 10 * time.Second}},
		{"mongodb://h/?authMechanismProperties=SERVICE_NAME:other%2Cx&Records=r2", Config{URI: "mongodb://h/?authMechanismProperties=SERVICE_NAME:other%2Cx",
			Database: "rendezvous", Records: "r2", Feedback: "feedback", Events: "deployment_events", ConnectTimeout: 10 * time.Second}},
		{"MongoDB://h", Config{URI: "mongodb://h",
			Database: "rendezvous", Records: "records", Feedback: "feedback", Events: "deployment_events", ConnectTimeout: 10 * time.Second}},
		{"mongodb://h/db?records=a.b", Config{URI: "mongodb://h/db",
			Database: "db", Records: "a.b", Feedback: "feedback", Events: "deployment_events", ConnectTimeout: 10 * time.Second}},
		{"mongodb://h/db?events=history", Config{URI: "mongodb://h/db",
			Database: "db", Records: "records", Feedback: "feedback", Events: "history", ConnectTimeout: 10 * time.Second}},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.raw, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseURL(%q) =\n %+v\nwant %+v", tc.raw, got, tc.want)
		}
	}
}

func TestParseURL_RejectsBadURLsNamingTheProblemWithoutThePassword(t *testing.T) {
	tests := []struct{ raw, problem string }{
		{"postgres://u:secret@h/db", "scheme must be mongodb:// or mongodb+srv://"},
		{"mongodb://u:secret@", "no host"},
		{"mongodb://u:secret@h?records=x", `a "/" must separate the hosts from the options`},
		{"mongodb://u:secret@h/my.db", `database "my.db": must not contain '.'`},
		{"mongodb://u:secret@h/db?records=", "records collection \"\": empty"},
		{"mongodb://u:secret@h/db?feedback=system.x", `must not start with "system."`},
		{"mongodb://u:secret@h/db?records=$x", `must not contain "$"`},
		{"mongodb://u:secret@h/db?connect_timeout=soon", "connect_timeout \"soon\": want a positive duration"},
		{"mongodb://u:secret@h/db?records=x&feedback=x", `records and feedback collections are both "x"`},
		{"mongodb://u:secret@h/db?events=feedback", `the events collection "feedback" is also the records, feedback or replay collection`},
	}
	for _, tc := range tests {
		_, err := ParseURL(tc.raw)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded, want an error", tc.raw)
			continue
		}
		if !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("ParseURL(%q) = %v, want it to say %q", tc.raw, err, tc.problem)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error shows the password: %v", tc.raw, err)
		}
	}
}

func TestOpen_UnreachableServerFailsWithinTheTimeoutNamingTheRedactedURL(t *testing.T) {
	// A port nothing listens on: bind one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	raw := "mongodb://rdv:s3cret-pw@" + addr + "/rendezvous?connect_timeout=300ms"
	start := time.Now()
	s, err := Open(context.Background(), raw)
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded with no server listening", addr)
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cret-pw") {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(msg, "mongodb://rdv:xxxxx@"+addr+"/rendezvous") {
		t.Errorf("error = %v, want it to name the URL with the password redacted", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Open took %s to fail, want about the 300ms connect_timeout", elapsed)
	}
}

func TestOpen_NamesTheContextDeadlineWhenItIsTheEarlierBound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Open(ctx, "mongodb://127.0.0.1:1/rendezvous?connect_timeout=1m")
	if err == nil || strings.Contains(err.Error(), "1m0s") || !regexp.MustCompile(`ping \(timeout 1?\d\d+ms\)`).MatchString(err.Error()) {
		t.Errorf("Open = %v, want it to name the context's ~200ms bound, not connect_timeout's 1m", err)
	}
}

func TestMicrosCeil(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want int64
	}{
		{base, base.UnixMicro()},
		{base.Add(time.Microsecond), base.UnixMicro() + 1},
		{base.Add(1001 * time.Nanosecond), base.UnixMicro() + 2},
		{base.Add(999 * time.Nanosecond), base.UnixMicro() + 1},
		{time.Date(1960, 1, 1, 0, 0, 0, 500, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() + 1},
	}
	for _, tc := range tests {
		if got := microsCeil(tc.t); got != tc.want {
			t.Errorf("microsCeil(%s) = %d, want %d", tc.t.Format(time.RFC3339Nano), got, tc.want)
		}
	}
}

func TestIgnoreDuplicates_AcceptsOnlyDuplicateKeyWriteErrors(t *testing.T) {
	we := func(i, code int) mongodrv.BulkWriteError {
		return mongodrv.BulkWriteError{WriteError: mongodrv.WriteError{Index: i, Code: code, Message: "E" + time.Duration(code).String()}}
	}
	dups := mongodrv.BulkWriteException{WriteErrors: []mongodrv.BulkWriteError{we(0, 11000), we(3, 11000)}}
	if err := ignoreDuplicates(dups); err != nil {
		t.Errorf("only duplicate keys: %v, want nil", err)
	}
	mixed := mongodrv.BulkWriteException{WriteErrors: []mongodrv.BulkWriteError{we(0, 11000), we(2, 121), we(5, 2)}}
	if err := ignoreDuplicates(mixed); err == nil || !strings.Contains(err.Error(), "2 of the documents failed, first (index 2, code 121)") {
		t.Errorf("mixed write errors: %v, want the two real failures reported", err)
	}
	wc := mongodrv.BulkWriteException{WriteConcernError: &mongodrv.WriteConcernError{Code: 64, Message: "waiting for replication timed out"},
		WriteErrors: []mongodrv.BulkWriteError{we(0, 11000)}}
	if err := ignoreDuplicates(wc); err == nil {
		t.Errorf("write concern error was ignored")
	}
}

func TestIgnoreDuplicates_PassesOtherErrors(t *testing.T) {
	if err := ignoreDuplicates(nil); err != nil {
		t.Errorf("ignoreDuplicates(nil) = %v", err)
	}
	other := context.DeadlineExceeded
	if err := ignoreDuplicates(other); err != other {
		t.Errorf("ignoreDuplicates(%v) = %v, want it unchanged", other, err)
	}
}

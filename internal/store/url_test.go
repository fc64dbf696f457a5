package store

import (
	"strings"
	"testing"
)

func TestRedactURL_HidesEveryPasswordAndKeepsTheRest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://gw:s3cret@db.example:5432/rdv?sslmode=require", "postgres://gw:xxxxx@db.example:5432/rdv?sslmode=require"},
		{"postgresql://gw@127.0.0.1/test", "postgresql://gw@127.0.0.1/test"},
		{"postgres://h/db?user=gw&password=s3cret", "postgres://h/db?password=xxxxx&user=gw"},
		{"mongodb+srv://app:p%40ss@cluster0.example.net/rdv?retryWrites=true", "mongodb+srv://app:xxxxx@cluster0.example.net/rdv?retryWrites=true"},
		{"mongodb://app:s3cret@h1:27017,h2:27017/rdv?replicaSet=rs0", "mongodb://app:xxxxx@h1:27017,h2:27017/rdv?replicaSet=rs0"},
		{"sqlite:///var/lib/rendezvous.db", "sqlite:///var/lib/rendezvous.db"},
		{"sqlite:rel.db", "sqlite:rel.db"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactURL_NeverReturnsThePasswordOfUnparseableStrings(t *testing.T) {
	for _, in := range []string{
		"postgres://gw:s3cret@host:notaport/db",
		"postgres://gw:s3cret@[::1/db",
		"host=db user=gw password=s3cret dbname=rdv",
		"host=db password='s3cret' dbname=rdv",
		"mongodb://gw:s3cret@h1:27017,h2:x/rdv",
		"postgres://gw:s3cret@host/db%zz",
		"opaque:gw:s3cret@host",
		"postgres://gw:s3cret/x@host/db",
		"postgres://gw:123/s3cret@host/db",
		"postgres://gw:s3cret?x@host/db",
		"postgres://gw:s3#cret@host/db",
		"postgres://gw:s3@cret@host/db",
		"postgres://host/db?password=ab;s3cret&x=1",
		"postgres://host/db?PassWord=s3cret",
	} {
		if got := RedactURL(in); strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q reveals the password", in, got)
		}
	}
}

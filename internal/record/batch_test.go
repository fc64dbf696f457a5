package record

import (
	"slices"
	"testing"
	"time"
)

func TestTimestamp_TruncatesToMicrosecondsInUTC(t *testing.T) {
	in := time.Date(2026, 11, 24, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
	got := Timestamp(in)
	if want := time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Timestamp(%s) = %s, want %s", in, got, want)
	}
}

func TestUniqueByID_KeepsTheFirstOfEachID(t *testing.T) {
	recs := []Record{{ID: "a", Status: "1"}, {ID: "b"}, {ID: "a", Status: "2"}, {ID: "c"}, {ID: "b", Status: "x"}}
	got := UniqueByID(recs)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID+r.Status)
	}
	if !slices.Equal(ids, []string{"a1", "b", "c"}) {
		t.Errorf("UniqueByID = %v, want [a1 b c]", ids)
	}
	noDup := recs[:2]
	if got := UniqueByID(noDup); &got[0] != &noDup[0] || len(got) != 2 {
		t.Error("UniqueByID copied a batch without duplicates")
	}
}

package schema

import (
	"strings"
	"testing"
)

// BenchmarkDecodeJSON_Batch measures the general decoder on a 100-instance
// batch body; BenchmarkCheckStrict_Batch the strict checks' share of it.
func batchBody() []byte {
	one := `{"entity_id":"892","input":{"pclass":3,"sex":"male","age":34.5,"sibsp":0,"parch":0,"fare":7.8292,"embarked":"Q"}}`
	return []byte(`{"instances":[` + strings.TrimSuffix(strings.Repeat(one+",", 100), ",") + `]}`)
}

func BenchmarkDecodeJSON_Batch(b *testing.B) {
	body := batchBody()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckStrict_Batch(b *testing.B) {
	body := batchBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckStrict(body); err != nil {
			b.Fatal(err)
		}
	}
}

package simulate

import (
	"testing"
)

func bodies(t *testing.T, seed uint64, n int) []string {
	t.Helper()
	rows := syntheticRows(300)
	s, err := NewSample(rows)
	if err != nil {
		t.Fatal(err)
	}
	gen := NewGenerator(s, mustInjector(t, "age:+15,sex:female=0.8,embarked:missing=0.3", rows), seed, 0.7)
	out := make([]string, n)
	for i := range out {
		req := gen.Next(float64(i) / float64(n))
		b, err := V1Route().Body(req)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
		if req.SendLabel {
			out[i] += " +label"
		}
	}
	return out
}

func TestGenerator_SameSeedSendsTheSameRequests(t *testing.T) {
	a, b, c := bodies(t, 9, 500), bodies(t, 9, 500), bodies(t, 10, 500)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d differs with the same seed:\n%s\n%s", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same > 50 {
		t.Errorf("%d of 500 requests identical across different seeds; the seed is not used", same)
	}
}

func TestRoute_BodyEncodesV1AndOriginalShapes(t *testing.T) {
	req := Request{EntityID: "892", Input: map[string]any{"pclass": 3.0, "sex": "male", "age": nil, "fare": 7.25}}
	b, err := V1Route().Body(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"entity_id":"892","input":{"fare":7.25,"pclass":3,"sex":"male"}}`; string(b) != want {
		t.Errorf("v1 body = %s, want %s", b, want)
	}
	rt := Route{Name: "original", Path: "/singletitanicpred/", EntityKey: "passid", Keys: map[string]string{"sex": "gender"}}
	b, err = rt.Body(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"fare":7.25,"gender":"male","passid":"892","pclass":3}`; string(b) != want {
		t.Errorf("original body = %s, want %s", b, want)
	}
}

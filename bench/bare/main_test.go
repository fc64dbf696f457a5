package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler_AnswersEveryPostWithTheConstantJSONOverKeepAlive(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	client := srv.Client()
	for i := range 3 {
		resp, err := client.Post(srv.URL+"/singletitanicpred/", "application/json",
			strings.NewReader(`{"pclass":3,"sex":"male","sibsp":0,"parch":0}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != Body || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %d %q %q", i, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}

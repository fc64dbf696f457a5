// Command bare is the benchmark's ceiling: a plain net/http server that
// reads the request body and answers every request with the same small JSON
// body the gateway's original route returns. Nothing a gateway does can be
// faster on the same machine and client, so the other rows of BENCHMARKS.md
// are read as a share of this one. A benchmark fixture, not product code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Body is the constant answer (the original route's response shape).
const Body = `{"passid":"1","prod_prediciton_binary":0,"prod_prediction_word":"Did Not Survive"}`

// Handler drains the request body and writes Body as JSON. It is safe for
// concurrent use.
func Handler() http.Handler {
	body := []byte(Body)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *addr, Handler: Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "bare: %v\n", err)
		os.Exit(1)
	}
}

// Package storeall opens a record store by URL scheme. It is the one place
// that imports every backend, so the store package stays free of them.
//
// To add a backend, add one line to backends, as the MongoDB store did:
//
//	{[]string{mongo.Scheme, mongo.SchemeSRV}, adapt(mongo.Open)},
package storeall

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/mongo"
	"github.com/rendezvous-gw/rendezvous/internal/store/postgres"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// opener opens one backend's store from its URL.
type opener func(ctx context.Context, rawURL string) (store.Store, error)

// backend serves the URL schemes it lists (lower case).
type backend struct {
	schemes []string
	open    opener
}

// backends lists every backend Open knows. One line per backend.
var backends = []backend{
	{[]string{sqlite.Scheme}, adapt(sqlite.Open)},
	{[]string{"postgres", "postgresql"}, adapt(postgres.Open)},
	{[]string{mongo.Scheme, mongo.SchemeSRV}, adapt(mongo.Open)},
}

// adapt turns a backend's Open, which returns its concrete store type, into
// an opener, so a failed open yields a nil store.Store rather than a non-nil
// interface holding a nil pointer.
func adapt[S store.Store](open func(context.Context, string) (S, error)) opener {
	return func(ctx context.Context, rawURL string) (store.Store, error) {
		s, err := open(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// Schemes returns the URL schemes Open accepts, sorted.
func Schemes() []string {
	var out []string
	for _, b := range backends {
		out = append(out, b.schemes...)
	}
	slices.Sort(out)
	return out
}

// Open opens the store rawURL names, choosing the backend by the URL's
// scheme (case-insensitive): sqlite, postgres or postgresql, mongodb or
// mongodb+srv (see each backend package, and docs/STORES.md, for its URL
// form and parameters). ctx bounds connecting
// and migrating; the store outlives it.
//
// Errors name the URL with its password redacted. A scheme no backend
// serves gives an error wrapping store.ErrUnsupportedScheme that names the
// scheme and the supported ones.
func Open(ctx context.Context, rawURL string) (store.Store, error) {
	scheme, _, found := strings.Cut(rawURL, ":")
	scheme = strings.ToLower(scheme)
	for _, b := range backends {
		if found && slices.Contains(b.schemes, scheme) {
			return b.open(ctx, rawURL)
		}
	}
	if !found || scheme == "" || strings.ContainsAny(scheme, "/\\. ") {
		return nil, fmt.Errorf("open store %q: %w: the URL has no scheme (supported: %s; e.g. sqlite:rendezvous.db)",
			store.RedactURL(rawURL), store.ErrUnsupportedScheme, strings.Join(Schemes(), ", "))
	}
	return nil, fmt.Errorf("open store %s: %w %q (supported: %s)",
		store.RedactURL(rawURL), store.ErrUnsupportedScheme, scheme, strings.Join(Schemes(), ", "))
}

// Package e2e holds cross-cutting end-to-end tests that need every store
// backend at once — SQLite, the local PostgreSQL and FerretDB (MongoDB
// protocol) started in the test process. It is its own package because
// FerretDB makes its test build slow.
package e2e

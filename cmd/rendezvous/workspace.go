package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// workspace is what the offline commands (report, export) read: the
// configuration, its models and the record store.
type workspace struct {
	cfg     *config.Config
	members []rendezvous.Member
	store   store.Store
}

// openWorkspace loads the configuration (embedded example when cfgPath is
// empty), its models, and the store (storeURL overrides the configuration).
func openWorkspace(ctx context.Context, cfgPath, storeURL string) (*workspace, error) {
	var (
		cfg *config.Config
		err error
	)
	if cfgPath == "" {
		cfg, err = titanic.Config()
	} else {
		cfg, err = config.Load(cfgPath)
	}
	if err != nil {
		return nil, err
	}
	if storeURL != "" {
		cfg.Store.URL = storeURL
	}
	if recordingOff(cfg.Store.URL) {
		return nil, fmt.Errorf("%w: store %s keeps no records; give --store", errUsage, cfg.Store.URL)
	}
	members, err := gateway.LoadMembers(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg.Store.URL, cfg.Store.ConnectTimeout)
	if err != nil {
		return nil, err
	}
	return &workspace{cfg: cfg, members: members, store: st}, nil
}

// parseWindow reads --since/--until: an RFC 3339 time, or a duration such
// as 24h meaning that long before now.
func parseWindow(since, until string, now time.Time) (monitor.Window, error) {
	var w monitor.Window
	for _, f := range []struct {
		flag, v string
		dst     *time.Time
	}{{"--since", since, &w.Since}, {"--until", until, &w.Until}} {
		if f.v == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, f.v); err == nil {
			*f.dst = t
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil || d <= 0 {
			return w, fmt.Errorf("%w: %s: want an RFC 3339 time (2026-11-24T12:00:00Z) or a duration before now (24h), got %q", errUsage, f.flag, f.v)
		}
		*f.dst = now.Add(-d)
	}
	if !w.Since.IsZero() && !w.Until.IsZero() && !w.Until.After(w.Since) {
		return w, fmt.Errorf("%w: --until must be after --since", errUsage)
	}
	return w, nil
}

// workspaceFlags are the flags every offline command that reads recorded
// traffic shares.
type workspaceFlags struct {
	config, store, since, until *string
}

func addWorkspaceFlags(fs *flag.FlagSet) workspaceFlags {
	return workspaceFlags{
		config: fs.String("config", "", "configuration file (default: the embedded example)"),
		store:  fs.String("store", "", "record store URL (default: store.url of the config)"),
		since:  fs.String("since", "", "only requests received at or after this RFC 3339 time, or this long ago (24h)"),
		until:  fs.String("until", "", "only requests received before this RFC 3339 time, or this long ago"),
	}
}

// open parses the window and opens the workspace; the caller closes
// ws.store.
func (f workspaceFlags) open(ctx context.Context) (*workspace, monitor.Window, error) {
	win, err := parseWindow(*f.since, *f.until, time.Now())
	if err != nil {
		return nil, win, err
	}
	ws, err := openWorkspace(ctx, *f.config, *f.store)
	return ws, win, err
}

// writeFileAtomic writes path through a temporary file beside it and a
// rename, so a failure never leaves a truncated file under that name.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	// CreateTemp makes the file private; a report or export is for sharing.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

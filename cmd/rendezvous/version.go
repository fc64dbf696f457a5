package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time, e.g.
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD) -X main.date=$(date -u +%FT%TZ)" ./cmd/rendezvous
//
// Whatever is left empty comes from the build information the Go toolchain
// embeds (module version, VCS revision and commit time).
var version, commit, date string

// versionInfo is what `rendezvous version` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	BuildDate string `json:"build_date"`
	Platform  string `json:"platform"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, BuildDate: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.GoVersion = bi.GoVersion
		if v.Version == "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.BuildDate == "" {
					v.BuildDate = s.Value + " (commit time)"
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" || v.Version == "(devel)" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "unknown (built without VCS information, e.g. -buildvcs=false or outside a git checkout)"
	}
	if v.BuildDate == "" {
		v.BuildDate = "unknown (set with -ldflags -X main.date=…)"
	}
	return v
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version [--json]",
		"Print the version, the commit it was built from, the Go version and the build date,\n"+
			"from -ldflags -X main.version/main.commit/main.date when set, else from the\n"+
			"build information the Go toolchain embeds (debug.ReadBuildInfo).", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: version takes no argument", errUsage)
	}
	v := buildVersion()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	modified := ""
	if v.Modified {
		modified = " (modified)"
	}
	fmt.Fprintf(stdout, "rendezvous %s\ncommit     %s%s\ngo         %s\nbuilt      %s\nplatform   %s\n",
		v.Version, v.Commit, modified, v.GoVersion, v.BuildDate, v.Platform)
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

var modelsSubcommands = []subcommand{
	{"list", "the live models: role, version, deadline, in-flight cap, sample, state"},
	{"add", "add a challenger or canary: a bundle on the server, an uploaded one, or a remote model"},
	{"remove", "remove a challenger or the canary (never production)"},
	{"set", "change a model's deadline, in-flight cap, sample, role, pause or fallback place"},
	{"promote", "make a model production if the gate passes (prints the gate's figures)"},
	{"rollback", "restore the deployment before the last change, models still warm"},
	{"history", "every deployment change: who, when, roles before and after, gate, reason"},
	{"reload", "have the server re-read its configuration file and apply it"},
}

func init() {
	examples["models list"] = `rendezvous models list                              # the gateway on 127.0.0.1:8080
rendezvous models list --server https://gw.example:8443 --token "$ADMIN_TOKEN" --json`
	examples["models add"] = `rendezvous models add my-logreg --bundle models/my-logreg.json --sample 0.1   # path on the server
rendezvous models add my-logreg --bundle ./my-logreg.json --upload            # send the file itself
rendezvous models add remote-xgb --remote http://10.0.0.7:8000 --protocol oip-v2 --deadline 80ms`
	examples["models remove"] = `rendezvous models remove my-logreg`
	examples["models set"] = `rendezvous models set my-logreg --sample 0.5 --deadline 100ms
rendezvous models set my-logreg --pause            # stop calling it; --resume to start again
rendezvous models set canary-rule --fallback -1    # no longer a fallback (a shadow)`
	examples["models promote"] = `rendezvous models promote my-logreg                # refused (exit 1) unless the gate passes
rendezvous models promote my-logreg --force --reason "incident 42: prod-gbt is broken"`
	examples["models rollback"] = `rendezvous models rollback --reason "promotion looked wrong"`
	examples["models history"] = `rendezvous models history --limit 20`
	examples["models reload"] = `rendezvous models reload                           # like kill -HUP <pid> (which also re-reads auth.token_file)`
}

// runModels implements `rendezvous models …`: the runtime model lifecycle
// of a running gateway, over its HTTP API.
func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "Change the models of a running gateway without a restart: add a challenger, sample a\n" +
		"share of traffic to it, promote it through the gate (the live comparison must not show\n" +
		"production better), roll back in one call, and read the history. Admin routes: from the\n" +
		"server's own host, or with an admin token (--token or $RENDEZVOUS_TOKEN)."
	if len(args) == 0 || isHelp(args[0]) {
		groupHelp(stdout, "models", synopsis, modelsSubcommands)
		if len(args) == 0 {
			return fmt.Errorf("%w: want a subcommand: list, add, remove, set, promote, rollback, history or reload", errUsage)
		}
		return nil
	}
	subs := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"list": modelsList, "add": modelsAdd, "remove": modelsRemove, "set": modelsSet,
		"promote": modelsPromote, "rollback": modelsRollback, "history": modelsHistory, "reload": modelsReload,
	}
	fn, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown subcommand %q (see 'rendezvous models --help')", errUsage, args[0])
	}
	return fn(ctx, args[1:], stdout, stderr)
}

// modelsCommand parses a subcommand's flags and wants exactly nArgs
// positional arguments (named argName in the usage error).
func modelsCommand(fs *flag.FlagSet, cf clientFlags, args []string, nArgs int, argName string) (*adminClient, []string, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != nArgs {
		if nArgs == 0 {
			return nil, nil, fmt.Errorf("%w: %s takes no argument, got %q", errUsage, fs.Name(), pos[0])
		}
		return nil, nil, fmt.Errorf("%w: %s wants the %s", errUsage, fs.Name(), argName)
	}
	c, err := cf.client()
	return c, pos, err
}

type modelsListBody struct {
	Deployment int64 `json:"deployment"`
	Models     []struct {
		Name        string  `json:"name"`
		Role        string  `json:"role"`
		Version     string  `json:"version"`
		DeadlineMS  float64 `json:"deadline_ms"`
		InFlight    int     `json:"in_flight"`
		MaxInFlight int     `json:"max_in_flight"`
		Sample      float64 `json:"sample"`
		Paused      bool    `json:"paused"`
		State       string  `json:"state"`
	} `json:"models"`
}

func modelsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if hasFlag(args, "bus") {
		// Stream mode: the workers on the bus, not one gateway's members.
		return runWorkerList(ctx, args, stdout, stderr)
	}
	fs := newFlagSet("models list [flags]", "List the live models of a running gateway and the live deployment's seq.\n"+
		"With --bus nats://HOST:4222 (stream mode) it lists the live model workers on\n"+
		"that NATS bus instead, exactly as 'rendezvous worker list' (--json, --wait, --creds).", stderr)
	cf := addClientFlags(fs)
	c, _, err := modelsCommand(fs, cf, args, 0, "")
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodGet, "/v1/models", nil)
	if err != nil || *cf.json {
		return printRaw(stdout, raw, err)
	}
	var body modelsListBody
	if err := decode(raw, "/v1/models", &body); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deployment %d\n", body.Deployment)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tVERSION\tDEADLINE\tIN FLIGHT\tSAMPLE\tSTATE")
	for _, m := range body.Models {
		state := m.State
		if m.Paused {
			state = "paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d/%d\t%.3g\t%s\n", m.Name, m.Role, m.Version,
			time.Duration(m.DeadlineMS*float64(time.Millisecond)), m.InFlight, m.MaxInFlight, m.Sample, state)
	}
	return tw.Flush()
}

// printRaw writes a JSON answer as it came (--json), or returns err.
func printRaw(w io.Writer, raw []byte, err error) error {
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintln(w, strings.TrimSpace(string(raw)))
	return werr
}

// changeBody is the answer of every change (api.lifecycleBody).
type changeBody struct {
	Event   store.DeploymentEvent `json:"event"`
	Warning string                `json:"warning"`
	Gate    *analysis.GateResult  `json:"gate"`
}

// printChange writes one change's outcome: the new deployment and roles.
func printChange(w io.Writer, raw []byte, path string, asJSON bool) error {
	if asJSON {
		return printRaw(w, raw, nil)
	}
	var b changeBody
	if err := decode(raw, path, &b); err != nil {
		return err
	}
	ev := b.Event
	what := ev.Kind
	if ev.Model != "" {
		what += " " + ev.Model
	}
	fmt.Fprintf(w, "deployment %d: %s by %s%s\n", ev.Seq, what, ev.Actor, forcedNote(ev))
	fmt.Fprintf(w, "  roles: %s\n", rolesLine(ev.After))
	if b.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", b.Warning)
	}
	return nil
}

func forcedNote(ev store.DeploymentEvent) string {
	if ev.Forced {
		return fmt.Sprintf(" (FORCED past the gate: %s)", ev.Reason)
	}
	return ""
}

func rolesLine(rs []store.MemberRole) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Name + "=" + r.Role
	}
	return strings.Join(parts, ", ")
}

func modelsAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models add NAME [flags]",
		"Add a challenger (or the canary) to a running gateway. Its model is a bundle file on the\n"+
			"server (--bundle, relative to the server's configuration file), the same file sent from\n"+
			"here (--bundle with --upload), or a remote model (--remote URL). From the next request\n"+
			"on it sees every request (or the --sample share of them, chosen by request id) and never\n"+
			"answers the caller unless it is a fallback.", stderr)
	cf := addClientFlags(fs)
	bundle := fs.String("bundle", "", "bundle path (on the server; with --upload, on this machine)")
	upload := fs.Bool("upload", false, "send the bundle file's contents instead of a path on the server")
	remoteURL := fs.String("remote", "", "a remote model's base URL instead of a bundle")
	protocol := fs.String("protocol", "oip-v2", "the remote model's protocol: oip-v2 or mlflow")
	remoteName := fs.String("remote-model", "", "the model's name on the remote server (oip-v2; default NAME)")
	role := fs.String("role", "challenger", "challenger or canary")
	deadline := fs.Duration("deadline", 0, "the model's deadline (default 50ms)")
	maxInFlight := fs.Int("max-in-flight", 0, "the model's in-flight cap (default 1024)")
	sample := fs.Float64("sample", 1, "share of requests the model is called for, in [0, 1]")
	c, pos, err := modelsCommand(fs, cf, args, 1, "model's NAME")
	if err != nil {
		return err
	}
	spec := map[string]any{"name": pos[0], "role": *role}
	if *deadline > 0 {
		spec["deadline"] = deadline.String()
	}
	if *maxInFlight > 0 {
		spec["max_in_flight"] = *maxInFlight
	}
	if *sample != 1 {
		spec["sample"] = *sample
	}
	switch {
	case (*bundle == "") == (*remoteURL == ""):
		return fmt.Errorf("%w: give exactly one of --bundle or --remote", errUsage)
	case *remoteURL != "":
		r := map[string]any{"protocol": *protocol, "url": *remoteURL}
		if *remoteName != "" {
			r["model"] = *remoteName
		}
		spec["remote"] = r
	case *upload:
		data, err := os.ReadFile(*bundle)
		if err != nil {
			return fmt.Errorf("--bundle: %w", err)
		}
		if !json.Valid(data) {
			return fmt.Errorf("--bundle %s: not a JSON bundle file", *bundle)
		}
		spec["bundle_json"] = json.RawMessage(data)
	default:
		spec["bundle"] = *bundle
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/models", spec)
	if err != nil {
		return err
	}
	return printChange(stdout, raw, "/v1/models", *cf.json)
}

func modelsRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models remove NAME [flags]", "Remove a challenger or the canary from a running gateway (never production:\npromote another model first). 'models rollback' brings it back.", stderr)
	cf := addClientFlags(fs)
	c, pos, err := modelsCommand(fs, cf, args, 1, "model's NAME")
	if err != nil {
		return err
	}
	path := "/v1/models/" + url.PathEscape(pos[0])
	raw, err := c.do(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return err
	}
	return printChange(stdout, raw, path, *cf.json)
}

// hasFlag reports whether args set the flag name (-name or --name, with
// or without =value) anywhere before "--".
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if k, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); k == name {
			return true
		}
	}
	return false
}

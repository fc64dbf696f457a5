package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// examples holds each command's "Examples:" section, keyed by the command
// words of its usage line ("serve", "config validate", "model inspect").
// Every example is a command that works as written from a checkout of the
// repository (or, for serve --config, after 'rendezvous init').
var examples = map[string]string{
	"token create": `rendezvous token create --scope read --name dashboard --file tokens.yaml   # prints the token once
rendezvous token create --scope predict,feedback --name app                # prints an auth.tokens entry
curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/metrics`,
	"serve": `rendezvous serve                                    # embedded Titanic example on 127.0.0.1:8080
rendezvous serve --addr 127.0.0.1:9090 --store sqlite:///tmp/rv.db
rendezvous serve --config my.yaml --addr :8443 --tls-cert cert.pem --tls-key key.pem   # with auth.token_file set
rendezvous init my-gateway && rendezvous serve --config my-gateway/rendezvous.yaml
curl -s http://127.0.0.1:8080/readyz                # 200 once every model is loaded`,
	"init": `rendezvous init my-gateway                          # my-gateway/rendezvous.yaml + my-gateway/models/*.json
rendezvous serve --config my-gateway/rendezvous.yaml`,
	"config print": `rendezvous config print > my.yaml                   # edit it; bundle paths are relative to the file
rendezvous init my-gateway                          # the same file with the bundles it names beside it`,
	"config validate": `rendezvous config validate                          # the embedded configuration
rendezvous config validate my-gateway/rendezvous.yaml`,
	"train": `rendezvous train --data ../shared/data/titanic_train.csv \
    --spec examples/titanic/train/prod-gbt.yaml --seed 1 --folds 5 \
    --created-at 2026-11-25T00:00:00Z --out prod-gbt.json   # the shipped prod-gbt, byte for byte
rendezvous train --data ../shared/data/titanic_train.csv --algo logistic \
    --name my-logreg --version 1 --out my-logreg.json       # defaults of one algorithm, no spec
scripts/train-examples.sh                                   # all three shipped bundles`,
	"predict": `rendezvous predict --model examples/titanic/models/prod-gbt.json \
    --data ../shared/data/titanic_train.csv --out scores.csv`,
	"model inspect": `rendezvous model inspect examples/titanic/models/prod-gbt.json
rendezvous model inspect examples/titanic/models/dev-logreg.json --json`,
	"worker": `rendezvous worker --bus nats://127.0.0.1:4222 --model examples/titanic/models/prod-gbt.json --concurrency 4
rendezvous worker --bus nats://127.0.0.1:4222 --model my-model.json --name prod-gbt   # the gateway's 'nats: prod-gbt'`,
	"recorder": `rendezvous recorder --bus nats://127.0.0.1:4222 --store postgres://postgres@127.0.0.1:5432/test
rendezvous recorder --bus nats://127.0.0.1:4222 --store sqlite:///tmp/rv.db --batch 1000`,
	"worker list": `rendezvous worker list --bus nats://127.0.0.1:4222
rendezvous worker list --bus nats://127.0.0.1:4222 --json --wait 2s`,
	"simulate": `rendezvous simulate --rate 100 --duration 30s --labels --seed 1
rendezvous simulate --count 500 --drift age:+15,sex:female=0.8 --labels --label-delay 10s
rendezvous simulate --rate 50 --duration 1m --drift fare:*1.5 --ramp --json`,
	"drift": `rendezvous drift --reference ../shared/data/titanic_train.csv \
    --current this-week.csv --columns Age,Fare,Sex  # this-week.csv: same header, newer rows
rendezvous drift --reference ref.csv --current cur.csv --method Age=psi --json`,
	"report": `rendezvous report                                   # everything recorded in ./rendezvous.db
rendezvous report --since 1h --json
rendezvous report --since 2026-11-25T01:58:18Z --html report.html`,
	"export": `rendezvous export --format parquet --out records.parquet
rendezvous export --format csv --out - --since 24h | head`,
	"replay": `rendezvous replay --candidate examples/titanic/models/dev-logreg.json --since 168h   # last week's traffic
rendezvous replay --candidate a.json --candidate b.json --sample 0.1 --json
rendezvous replay --remote http://127.0.0.1:5001 --protocol mlflow --name my-mlflow --since 24h
rendezvous replay --store sqlite:///var/lib/rv/rv.db --candidate new.json --name new-gbt --since 2026-11-24T00:00:00Z`,
	"version": `rendezvous version
rendezvous version --json`,
}

// commandWords returns the leading command words of a usage line:
// "model inspect FILE [--json]" → "model inspect".
func commandWords(usage string) string {
	var words []string
	for _, w := range strings.Fields(usage) {
		if w == "" || strings.ContainsAny(w, "-[(|=") || strings.ToUpper(w) == w {
			break
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

// printUsage writes a command's help: usage line, synopsis, flags (when it
// has any) and examples (when there are some).
func printUsage(w io.Writer, fs *flag.FlagSet, usage, synopsis string) {
	fmt.Fprintf(w, "Usage: rendezvous %s\n\n%s\n", usage, synopsis)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if ex := examples[commandWords(usage)]; ex != "" {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, line := range strings.Split(ex, "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// subcommand is one entry of a command group (config, model).
type subcommand struct {
	name, summary string
}

// groupHelp writes the help of a command with subcommands.
func groupHelp(w io.Writer, group, synopsis string, subs []subcommand) {
	fmt.Fprintf(w, "Usage: rendezvous %s <subcommand> [flags]   ('rendezvous %s <subcommand> --help' for each)\n\n%s\n\nSubcommands:\n", group, group, synopsis)
	for _, s := range subs {
		fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nExamples:\n")
	for _, s := range subs {
		for _, line := range strings.Split(examples[group+" "+s.name], "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

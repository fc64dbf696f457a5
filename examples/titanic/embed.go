// Package titanic embeds the bundled example: the gateway configuration and
// the three trained model bundles, so `rendezvous serve` runs with no files.
package titanic

import "embed"

// ConfigFile is the path of the configuration inside FS.
const ConfigFile = "rendezvous.yaml"

// FS holds rendezvous.yaml and models/*.json. Bundle paths in the
// configuration are relative to its root.
//
//go:embed rendezvous.yaml models
var FS embed.FS

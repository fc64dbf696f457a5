package config

import (
	"github.com/rendezvous-gw/rendezvous/examples/titanic"
)

// Default returns the embedded example configuration (the Titanic gateway),
// defaulted and validated; its bundles are read from the embedded FS.
func Default() (*Config, error) {
	c, err := LoadFS(titanic.FS, titanic.ConfigFile)
	if err != nil {
		return nil, err
	}
	c.Source = "embedded " + titanic.ConfigFile
	return c, nil
}

// DefaultYAML returns the embedded example configuration file as written
// (comments included), for `rendezvous config print`.
func DefaultYAML() ([]byte, error) {
	return titanic.FS.ReadFile(titanic.ConfigFile)
}

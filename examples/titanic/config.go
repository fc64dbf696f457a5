package titanic

import "github.com/rendezvous-gw/rendezvous/internal/config"

// Config returns the embedded example configuration (the Titanic gateway),
// defaulted and validated; its bundles are read from the embedded FS. It is
// the configuration `rendezvous` uses when given none.
func Config() (*config.Config, error) {
	c, err := config.LoadFS(FS, ConfigFile)
	if err != nil {
		return nil, err
	}
	c.Source = "embedded " + ConfigFile
	return c, nil
}

// YAML returns the embedded example configuration file as written
// (comments included), for `rendezvous config print`.
func YAML() ([]byte, error) {
	return FS.ReadFile(ConfigFile)
}

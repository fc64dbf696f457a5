package titanic

import (
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/config"
)

func TestConfig_EmbeddedExampleIsValidAndReadsEmbeddedBundles(t *testing.T) {
	c, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Models {
		b, err := c.ReadBundle(m.Bundle)
		if err != nil || len(b) == 0 {
			t.Errorf("model %s: bundle %q: %v", m.Name, m.Bundle, err)
		}
	}
	y, err := YAML()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadBytes(y, "."); err != nil {
		t.Errorf("printed default does not load next to its bundles: %v", err)
	}
}

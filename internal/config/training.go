package config

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// TrainingMapping builds the dataset mapping (CSV columns → input fields)
// from the configuration's schema, training section and label words.
func (c *Config) TrainingMapping() (dataset.Mapping, error) {
	v, err := schema.New(schema.Options{Fields: c.Schema.Fields, AllowUnknown: true})
	if err != nil {
		return dataset.Mapping{}, fmt.Errorf("build input validator: %w", err)
	}
	m := dataset.Mapping{
		Fields:      slices.Clone(c.Schema.Fields),
		Validator:   v,
		Columns:     c.Training.Columns,
		IDColumn:    c.Training.IDColumn,
		LabelColumn: c.Training.LabelColumn,
	}
	for k := range c.Labels.Words {
		m.Classes = append(m.Classes, k)
	}
	slices.Sort(m.Classes)
	if len(m.Columns) == 0 {
		return dataset.Mapping{}, errors.New("config: training.columns is empty (no CSV column maps to an input field)")
	}
	for col, f := range m.Columns {
		if _, ok := v.Field(f); !ok {
			return dataset.Mapping{}, fmt.Errorf("config: training.columns.%s: %q is not a schema field", col, f)
		}
	}
	return m, nil
}

// ParseUnvalidated decodes a configuration without defaults or validation
// (a training run needs only the schema, labels and training sections, and
// must work before the bundles the configuration names exist). source
// names it in errors.
func ParseUnvalidated(source string, data []byte) (*Config, error) {
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("read config %s: %w", source, err)
	}
	c.Source = source
	return &c, nil
}

// LoadUnvalidated reads and decodes the configuration file at path (see
// ParseUnvalidated).
func LoadUnvalidated(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseUnvalidated(path, data)
}

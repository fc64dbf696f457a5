package remote

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfig_ApplyExtraReadsTheYAMLSettings(t *testing.T) {
	var extra map[string]any
	err := yaml.Unmarshal([]byte(`
layout: tensor
tensor_name: float_input
tensor_datatype: fp32
threshold: 0.35
timeout: 2s
max_idle_conns_per_host: 8
max_response_bytes: 4096
`), &extra)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := c.ApplyExtra(extra); err != nil {
		t.Fatalf("ApplyExtra: %v", err)
	}
	want := Config{Layout: LayoutTensor, TensorName: "float_input", TensorDatatype: "FP32", Threshold: 0.35,
		Timeout: 2 * time.Second, MaxIdleConnsPerHost: 8, MaxResponseBytes: 4096}
	if c.Layout != want.Layout || c.TensorName != want.TensorName || c.TensorDatatype != want.TensorDatatype ||
		c.Threshold != want.Threshold || c.Timeout != want.Timeout || c.MaxIdleConnsPerHost != want.MaxIdleConnsPerHost ||
		c.MaxResponseBytes != want.MaxResponseBytes {
		t.Errorf("config = %+v", c)
	}
}

func TestConfig_ApplyExtraReportsEveryProblemByKey(t *testing.T) {
	c := Config{Name: "m"}
	err := c.ApplyExtra(map[string]any{"layout": 3, "threshold": 1.5, "timeout": "soon", "max_idle_conns_per_host": 0.5, "colour": "red"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"extra.colour: unknown setting", "extra.layout: want a non-empty string", "extra.threshold: want a number in (0, 1]", "extra.timeout: want a positive duration", "extra.max_idle_conns_per_host: want a positive integer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

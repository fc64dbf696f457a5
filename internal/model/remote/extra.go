package remote

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// ApplyExtra sets the settings that the YAML model entry carries under
// remote.extra (config.Remote.Extra) on c:
//
//	layout: tensor | fields         tensor_name: input-0
//	tensor_datatype: FP64 | FP32    threshold: 0.5
//	timeout: 10s                    max_idle_conns_per_host: 64
//	max_response_bytes: 1048576
//
// Every problem is reported at once, each naming its key ("extra.layout:
// …"); an unknown key is an error. New validates the values' ranges.
func (c *Config) ApplyExtra(extra map[string]any) error {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	bad := func(k, format string, args ...any) {
		problems = append(problems, "extra."+k+": "+fmt.Sprintf(format, args...))
	}
	for _, k := range keys {
		v := extra[k]
		switch k {
		case "layout", "tensor_name", "tensor_datatype":
			s, ok := v.(string)
			if !ok || s == "" {
				bad(k, "want a non-empty string, got %v", v)
				continue
			}
			switch k {
			case "layout":
				c.Layout = Layout(s)
			case "tensor_name":
				c.TensorName = s
			default:
				c.TensorDatatype = strings.ToUpper(s)
			}
		case "threshold":
			f, ok := schema.ToFloat(v)
			if !ok || f <= 0 || f > 1 {
				bad(k, "want a number in (0, 1], got %v", v)
				continue
			}
			c.Threshold = f
		case "timeout":
			d, err := toDuration(v)
			if err != nil || d <= 0 {
				bad(k, "want a positive duration such as 2s, got %v", v)
				continue
			}
			c.Timeout = d
		case "max_idle_conns_per_host", "max_response_bytes":
			f, ok := schema.ToFloat(v)
			if !ok || f < 1 || f != math.Trunc(f) || f > math.MaxInt32*1024.0 {
				bad(k, "want a positive integer, got %v", v)
				continue
			}
			if k == "max_idle_conns_per_host" {
				c.MaxIdleConnsPerHost = int(f)
			} else {
				c.MaxResponseBytes = int64(f)
			}
		default:
			bad(k, "unknown setting (want layout, tensor_name, tensor_datatype, threshold, timeout, max_idle_conns_per_host, max_response_bytes)")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("remote model %q: %s", c.Name, strings.Join(problems, "; "))
	}
	return nil
}

func toDuration(v any) (time.Duration, error) {
	switch v := v.(type) {
	case string:
		return time.ParseDuration(v)
	case time.Duration:
		return v, nil
	}
	return 0, fmt.Errorf("not a duration: %v", v)
}

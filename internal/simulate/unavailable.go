package simulate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Reasons a gateway gave for a 503, as counted in Summary.Unavailable.
const (
	UnavailableNoModelInTime = "no model in time"
	UnavailableOverload      = "overload"
	UnavailableOther         = "other"
)

// unavailableReason classifies a 503 from its JSON error body ({"error":
// "…"}) and Retry-After header: the category, and a description for the
// first-error line ("no model answered in time (Retry-After 1)").
func unavailableReason(body []byte, retryAfter string) (category, detail string) {
	var v struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &v)
	msg := strings.ToLower(v.Error)
	switch {
	case msg == "":
		category = UnavailableOther
		v.Error = "no error message in the body"
	case containsAny(msg, "overload", "capacity", "in flight", "in-flight", "too many", "queue", "shed", "busy"):
		category = UnavailableOverload
	case containsAny(msg, "in time", "deadline", "timed out", "timeout", "no model"):
		category = UnavailableNoModelInTime
	default:
		category = UnavailableOther
	}
	detail = fmt.Sprintf("HTTP %d: %s", http.StatusServiceUnavailable, v.Error)
	if retryAfter != "" {
		detail += " (Retry-After " + retryAfter + ")"
	}
	return category, detail
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

package store

import (
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces a password in RedactURL's output.
const redacted = "xxxxx"

// secretParams are query parameters whose values are credentials.
var secretParams = []string{"password", "sslpassword", "authmechanismproperties", "tlscertificatekeyfilepassword"}

// keyValueRE matches password=... in a key/value connection string or query.
var keyValueRE = regexp.MustCompile(`(?i)((?:^|[\s&?;])(?:password|sslpassword)\s*=\s*)('[^']*'|[^\s&]*)`)

// RedactURL returns rawURL with every credential replaced by "xxxxx": the
// password of the userinfo and the values of password-like query
// parameters. The user name, host, path and other parameters are kept so
// the result can name the store in an error or a log line. It never
// returns the password, even for strings that do not parse as URLs (they
// are redacted textually).
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" || u.Scheme == "" ||
		u.User == nil && strings.Contains(u.Path+u.RawQuery+u.Fragment, "@") {
		// Not a clean hierarchical URL, or one where an unescaped character
		// in a password may have moved it into the path ("u:123/x@h").
		return redactText(rawURL)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil { // e.g. a ';' in a value: Query would drop the pair, password included
			return redactText(rawURL)
		}
		changed := false
		for k := range q {
			for _, s := range secretParams {
				if strings.EqualFold(k, s) {
					q[k] = []string{redacted}
					changed = true
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// redactUserinfo replaces what lies between the first ':' after "://" and
// the last '@' — the password, even one holding unescaped '/', '?', '#' or
// '@' — when both are present.
func redactUserinfo(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return s
	}
	return s[:i+3] + rest[:colon+1] + redacted + rest[at:]
}

// opaqueUserinfoRE matches "scheme:anything@" of an opaque URL.
var opaqueUserinfoRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*:)([^/][^@]*)@`)

// redactText redacts credentials from a string that is not a parseable
// hierarchical URL: a key/value connection string, an opaque URL, a
// malformed URL.
func redactText(s string) string {
	s = redactUserinfo(s)
	s = opaqueUserinfoRE.ReplaceAllString(s, "${1}"+redacted+"@")
	return keyValueRE.ReplaceAllString(s, "${1}"+redacted)
}

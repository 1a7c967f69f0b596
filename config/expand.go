package config

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in s, the way a shell would, so that one
// queue.toml can be shared between machines that differ only in environment (the Laravel
// habit of env('REDIS_HOST', '127.0.0.1')).
//
// It runs on decoded string values, never on the raw file, so an environment value can never
// change the TOML structure or break its quoting. An unset ${VAR} expands to "" like in sh, and
// ${VAR:-default} uses default when VAR is unset or empty. A "$" not followed by "{" is kept as
// is, so "$$" and "$HOME" are literal. The default ends at the first "}", so it cannot itself
// contain "}" or another ${...}.
func expand(s string, lookupEnv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		start := strings.Index(s, "${")
		if start < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:start])
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			return "", fmt.Errorf(`unterminated "${" in %q (missing "}")`, s[start:])
		}
		ref := s[start+2 : start+end]
		name, def, hasDefault := strings.Cut(ref, ":-")
		if !isEnvName(name) {
			return "", fmt.Errorf(`bad variable name in %q (want ${NAME} or ${NAME:-default})`, s[start:start+end+1])
		}
		value, ok := lookupEnv(name)
		if hasDefault && (!ok || value == "") {
			value = def
		}
		b.WriteString(value)
		s = s[start+end+1:]
	}
}

// isEnvName reports whether name is a portable environment variable name: a letter or "_"
// followed by letters, digits or "_". Anything else is more likely a typo, such as ${VAR-x}.
func isEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// lineIndex maps a TOML key path (formatted by toml.Key.String) to the line that defines it.
// BurntSushi/toml reports positions only for syntax errors, so to put a line on semantic errors
// such as unknown keys this scans the source on its own. It is deliberately best effort: it
// understands table headers, dotted and quoted keys and multi-line strings, not keys inside
// inline tables, which fall back to the line of their enclosing key.
type lineIndex map[string]int

// indexLines records the first line of every key and table header in src.
func indexLines(src string) lineIndex {
	ix := lineIndex{}
	var table []string
	openString := "" // delimiter of a multi-line string still open at the end of the previous line
	for n, line := range strings.Split(src, "\n") {
		lineNo := n + 1
		if openString != "" {
			end := strings.Index(line, openString)
			if end < 0 {
				continue
			}
			line = line[end+len(openString):]
			openString = openMultiline(line)
			continue
		}
		t := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(t, "[") {
			header := strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(t, "["), "["), " \t")
			if keys, rest, ok := parseDottedKey(header); ok && strings.HasPrefix(rest, "]") {
				table = keys
				for i := 1; i <= len(table); i++ {
					ix.record(table[:i], lineNo)
				}
			}
			continue
		}
		keys, rest, ok := parseDottedKey(t)
		if !ok || !strings.HasPrefix(rest, "=") {
			openString = openMultiline(t)
			continue
		}
		full := append(append([]string(nil), table...), keys...)
		for i := len(table) + 1; i <= len(full); i++ {
			ix.record(full[:i], lineNo)
		}
		openString = openMultiline(rest[1:])
	}
	return ix
}

// record keeps the first line seen for path: TOML forbids redefining a key, so later matches
// can only be implicit parents of dotted keys, whose first mention is the useful one.
func (ix lineIndex) record(path []string, line int) {
	k := toml.Key(path).String()
	if _, seen := ix[k]; !seen {
		ix[k] = line
	}
}

// find returns the line of path, or of its nearest enclosing key or table when path itself was
// not found (a required key that is missing points at its table header), or 0.
func (ix lineIndex) find(path []string) int {
	for n := len(path); n > 0; n-- {
		if line, ok := ix[toml.Key(path[:n]).String()]; ok {
			return line
		}
	}
	return 0
}

// parseDottedKey reads a possibly dotted, possibly quoted TOML key from the start of s and
// returns its parts and the text after it with leading blanks removed.
func parseDottedKey(s string) (keys []string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		var part string
		switch {
		case strings.HasPrefix(s, `"`):
			end := closingQuote(s)
			if end < 0 {
				return nil, "", false
			}
			unq, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, "", false
			}
			part, s = unq, s[end+1:]
		case strings.HasPrefix(s, "'"):
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, "", false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := 0
			for end < len(s) && isBareKeyByte(s[end]) {
				end++
			}
			if end == 0 {
				return nil, "", false
			}
			part, s = s[:end], s[end:]
		}
		keys = append(keys, part)
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, ".") {
			return keys, s, true
		}
		s = s[1:]
	}
}

// closingQuote returns the index of the quote ending the basic string that starts s[0], or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// openMultiline reports the delimiter (three double or three single quotes) of a multi-line string that starts in s and
// does not end in it, so that indexLines skips the string's body instead of reading it as keys.
func openMultiline(s string) string {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '#':
			return ""
		case strings.HasPrefix(s[i:], `"""`), strings.HasPrefix(s[i:], `'''`):
			delim := s[i : i+3]
			end := strings.Index(s[i+3:], delim)
			if end < 0 {
				return delim
			}
			i += 3 + end + 2
		case s[i] == '"':
			end := closingQuote(s[i:])
			if end < 0 {
				return ""
			}
			i += end
		case s[i] == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return ""
			}
			i += end + 1
		}
	}
	return ""
}

// isBareKeyByte reports whether b may appear in an unquoted TOML key.
func isBareKeyByte(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

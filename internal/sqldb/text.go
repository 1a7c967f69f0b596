package sqldb

import "unicode/utf8"

// TextRefuses reports whether a text column of dialect cannot hold the rune r that
// utf8.DecodeRuneInString read as size bytes (RuneError of size 1 is an invalid byte).
// PostgreSQL's text refuses invalid UTF-8 (SQLSTATE 22021) and NUL (22P05); MySQL's utf8mb4
// columns refuse invalid UTF-8 (error 1366 in strict mode) and, without strict mode, silently cut
// the text at the first such byte, but hold NUL; SQLite's text holds any bytes.
func TextRefuses(dialect string, r rune, size int) bool {
	invalid := r == utf8.RuneError && size <= 1
	switch dialect {
	case Postgres:
		return invalid || r == 0
	case MySQL:
		return invalid
	}
	return false
}

// FirstRefused returns the index of the first byte of s that a text column of dialect cannot
// hold, or -1 when it can hold all of s.
func FirstRefused(dialect string, s []byte) int {
	if dialect == SQLite {
		return -1
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if TextRefuses(dialect, r, size) {
			return i
		}
		i += size
	}
	return -1
}

package failed

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/qctl/qctl/internal/sqldb"
)

// A failed job must be recorded whatever bytes it holds: a store that refuses it makes the worker
// release the job to fail again, forever. So before the INSERT, what the dialect's text columns
// cannot hold (sqldb.TextRefuses: invalid UTF-8 on PostgreSQL and MySQL, NUL on PostgreSQL) is
// replaced, and a note at the end of the exception says what was replaced and keeps the original
// payload in base64, so nothing is lost and the real reason still leads the exception.

// storable returns payload and exception as the dialect's text columns can hold them. The
// payload's invalid UTF-8 becomes U+FFFD, as Go's JSON decoder reads it anyway, and its NUL
// becomes the six characters \u0000, JSON's escape for it, so a JSON payload keeps its meaning
// where it can; the exception's bad bytes become \xNN text, which a reader can tell apart.
func storable(dialect string, payload []byte, exception string) (string, string) {
	p, pn := replace(dialect, string(payload), func(b byte) string {
		if b == 0 {
			return `\u0000`
		}
		return string(utf8.RuneError)
	})
	e, en := replace(dialect, exception, func(b byte) string { return fmt.Sprintf(`\x%02x`, b) })
	if pn == 0 && en == 0 {
		return p, e
	}
	name := map[string]string{sqldb.Postgres: "PostgreSQL", sqldb.MySQL: "MySQL"}[dialect]
	what := "invalid UTF-8"
	if dialect == sqldb.Postgres {
		what = "invalid UTF-8 or NUL"
	}
	if en > 0 {
		e += fmt.Sprintf("\n\nqctl: this exception held %d bytes that %s cannot store (%s); each is written above as \\xNN.", en, name, what)
	}
	if pn > 0 {
		e += fmt.Sprintf("\n\nqctl: the payload held %d bytes that %s cannot store (%s): invalid UTF-8 was stored as U+FFFD and NUL as \\u0000, so `retry` pushes the payload as stored. The original payload, base64: %s",
			pn, name, what, base64.StdEncoding.EncodeToString(payload))
	}
	return p, e
}

// replace returns s with each byte the dialect cannot hold replaced by with(byte), and how many
// bytes it replaced. It allocates only when something needs replacing.
func replace(dialect, s string, with func(byte) string) (string, int) {
	var (
		out strings.Builder
		n   int
	)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !sqldb.TextRefuses(dialect, r, size) {
			if n > 0 {
				out.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		if n == 0 {
			out.Grow(len(s) + 8)
			out.WriteString(s[:i])
		}
		out.WriteString(with(s[i]))
		n++
		i++
	}
	if n == 0 {
		return s, 0
	}
	return out.String(), n
}

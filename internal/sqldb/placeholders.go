package sqldb

import (
	"strconv"
	"strings"
)

// Placeholders turns the positional ? of text into PostgreSQL's $1, $2, …; SQLite and MySQL take
// ? as it is. text must hold no ? other than placeholders.
func Placeholders(dialect, text string) string {
	if dialect != Postgres {
		return text
	}
	var b strings.Builder
	n := 0
	for _, r := range text {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

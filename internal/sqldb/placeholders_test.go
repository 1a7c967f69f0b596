package sqldb

import "testing"

func TestPlaceholders(t *testing.T) {
	const text = "UPDATE t SET a = ? WHERE b = ? AND c IN (?, ?)"
	if got := Placeholders(Postgres, text); got != "UPDATE t SET a = $1 WHERE b = $2 AND c IN ($3, $4)" {
		t.Errorf("postgres: %s", got)
	}
	for _, d := range []string{SQLite, MySQL} {
		if got := Placeholders(d, text); got != text {
			t.Errorf("%s: %s", d, got)
		}
	}
}

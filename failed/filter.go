package failed

import (
	"encoding/json"
	"strings"
	"time"
)

// Filter narrows List, Count and Page; zero fields match everything.
type Filter struct {
	Queue string
	// Job matches the job's name as the payload writes it: its displayName, or its "job" with
	// or without an "@method" suffix (`SendEmail` matches "SendEmail@handle"). See jobPatterns.
	Job    string
	Since  time.Time // failed at or after
	Before time.Time // failed before
	// Ranges keep only rows whose auto-increment id lies in one of them (`retry --range`).
	Ranges []Range
	// Exception keeps rows whose exception text contains it, case as the database compares
	// (one LIKE scan of the column).
	Exception string
	// Below keeps rows whose row id is below it: passing a page's last RowID back pages through
	// List's newest-first order at a cost that does not grow with the pages already read.
	Below int64
	Limit int // 0 = no limit
}

// Range is an inclusive range of row ids.
type Range struct{ From, To int64 }

// where returns f as a WHERE clause (with a leading space) and its arguments.
func (s *Store) where(f Filter) (string, []any) {
	var conds []string
	var args []any
	if f.Queue != "" {
		conds, args = append(conds, "queue = ?"), append(args, f.Queue)
	}
	if f.Job != "" {
		var ors []string
		for _, p := range jobPatterns(f.Job) {
			ors, args = append(ors, "payload LIKE ? ESCAPE '!'"), append(args, p)
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, s.layout.timeCol+" >= ?"), append(args, s.layout.timeArg(f.Since))
	}
	if !f.Before.IsZero() {
		conds, args = append(conds, s.layout.timeCol+" < ?"), append(args, s.layout.timeArg(f.Before))
	}
	if f.Exception != "" {
		conds, args = append(conds, "exception LIKE ? ESCAPE '!'"), append(args, "%"+escapeLike(f.Exception)+"%")
	}
	if f.Below > 0 {
		conds, args = append(conds, "id < ?"), append(args, f.Below)
	}
	if len(f.Ranges) > 0 {
		var ors []string
		for _, r := range f.Ranges {
			ors, args = append(ors, "id BETWEEN ? AND ?"), append(args, r.From, r.To)
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// jobPatterns are the LIKE patterns that find a job name in a payload without decoding it, so
// that filtering 100,000 rows is one scan in the database rather than 100,000 rows sent to qctl:
// `"displayName":"NAME"`, `"job":"NAME"` and `"job":"NAME@…"`, with NAME JSON-encoded
// (`App\Jobs\X` is written `App\\Jobs\\X`). It is a heuristic, and a documented one: it relies on
// the compact JSON that Laravel, think-queue and qctl write, misses a name written with "\/"
// escapes, and also matches a job whose data happens to hold the same key and value.
func jobPatterns(name string) []string {
	enc := jsonString(name)
	like := escapeLike(enc[:len(enc)-1]) // the encoded name without its closing quote
	return []string{
		`%"displayName":` + like + `"%`,
		`%"job":` + like + `"%`,
		`%"job":` + like + `@%`,
	}
}

// jsonString encodes s as a JSON string without HTML escaping, as PHP and qctl write names.
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// escapeLike escapes LIKE's wildcards with '!', the ESCAPE character of every pattern here ('!'
// rather than a backslash, which MySQL's string literals and JSON both give meaning to).
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

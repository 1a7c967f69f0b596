package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/failed"
)

// filterFlags are the selection flags `failed` and `retry` share.
func filterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "queue", Usage: "only jobs that failed on this queue"},
		&cli.StringFlag{Name: "job", Usage: "only jobs of this name (displayName, or job with or without @method)"},
		&cli.StringFlag{Name: "since", Usage: "only jobs that failed at or after `TIME` (2026-11-21, \"2026-11-21 10:00:00\", RFC 3339; in the config's timezone unless it has an offset, or a duration ago: 90m, 2h, 7d)"},
		&cli.StringFlag{Name: "before", Usage: "only jobs that failed before `TIME` (same forms as --since)"},
	}
}

// readFilter builds the store filter from the shared flags; now anchors durations, and its zone
// (the config's timezone) is the one of times typed without an offset.
func readFilter(c *cli.Context, now time.Time) (failed.Filter, error) {
	f := failed.Filter{Queue: c.String("queue"), Job: c.String("job")}
	var err error
	if f.Since, err = parseWhen(c.String("since"), now); err != nil {
		return f, usageError("--since: %v", err)
	}
	if f.Before, err = parseWhen(c.String("before"), now); err != nil {
		return f, usageError("--before: %v", err)
	}
	return f, nil
}

// parseWhen reads a point in time as operators type it: a date, a date and time (in now's zone,
// the config's timezone, as the table shows them), RFC 3339, or a duration meaning that long
// before now ("2h", "7d", "1d12h"). "" is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateTime, "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	if d, err := parseAgo(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want 2026-11-21, \"2026-11-21 10:00:00\", RFC 3339, or a duration ago like 2h or 7d", s)
}

// parseAgo is time.ParseDuration plus a leading whole-days part ("7d", "1d12h").
func parseAgo(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad days in %q", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return days + d, nil
}

// parseRanges reads --range values such as "1-5", "7" or "1-5,9-12" into row id ranges.
func parseRanges(values []string) ([]failed.Range, error) {
	var out []failed.Range
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			from, to, isRange := strings.Cut(part, "-")
			a, errA := strconv.ParseInt(strings.TrimSpace(from), 10, 64)
			b, errB := a, error(nil)
			if isRange {
				b, errB = strconv.ParseInt(strings.TrimSpace(to), 10, 64)
			}
			if errA != nil || errB != nil || a < 1 || b < a {
				return nil, usageError("--range %q: want FROM-TO with 1 <= FROM <= TO (the failed table's integer ids), or one id", part)
			}
			out = append(out, failed.Range{From: a, To: b})
		}
	}
	return out, nil
}

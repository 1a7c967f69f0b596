package jobs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseBackoff parses a Laravel backoff list ("1,5,10": seconds to wait before each retry) as it
// appears in a payload's "backoff" key or the --backoff flag. Spaces around entries are allowed;
// "" means no backoff and returns an empty list. Anything but non-negative whole seconds is an
// error here, at parse time, so a typo is reported once instead of on every failed job.
func ParseBackoff(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	list := make([]time.Duration, len(parts))
	for i, part := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/int64(time.Second) {
			return nil, fmt.Errorf("backoff %q: entry %d (%q) is not a whole number of seconds", s, i+1, strings.TrimSpace(part))
		}
		list[i] = time.Duration(n) * time.Second
	}
	return list, nil
}

// BackoffFor returns how long to wait before retrying a job whose attempt number attempt (1-based)
// just failed: the list entry at attempt-1, with the last entry repeating for later attempts, as
// Laravel does. An empty list means no wait.
func BackoffFor(list []time.Duration, attempt int) time.Duration {
	if len(list) == 0 {
		return 0
	}
	i := min(max(attempt-1, 0), len(list)-1)
	return list[i]
}

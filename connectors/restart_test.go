package connectors_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

func TestNextRestartValue(t *testing.T) {
	now := time.Unix(1796287684, 400_000_000)
	sec := now.Unix()
	for _, tc := range []struct {
		previous string
		want     int64
	}{
		{"", sec},                                    // never broadcast
		{strconv.FormatInt(sec-60, 10), sec},         // an older restart, by qctl or PHP
		{strconv.FormatInt(sec, 10), sec + 1},        // a second restart within the same second
		{strconv.FormatInt(sec+3, 10), sec + 4},      // the fourth within it, or a clock ahead of ours
		{strconv.FormatInt(now.UnixNano(), 10), sec}, // the nanoseconds older qctl stored
		{"i:1796287684;", sec},                       // not a number at all
	} {
		if got := connectors.NextRestartValue(tc.previous, now); got != strconv.FormatInt(tc.want, 10) {
			t.Errorf("NextRestartValue(%q) = %s, want %d", tc.previous, got, tc.want)
		}
	}
}

package commands

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/failed"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Time{
		"":                          {},
		"2026-11-20":                time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
		"2026-11-20 09:30:15":       time.Date(2026, 11, 20, 9, 30, 15, 0, time.UTC),
		"2026-11-20 09:30":          time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC),
		"2026-11-20T09:30:15+08:00": time.Date(2026, 11, 20, 1, 30, 15, 0, time.UTC),
		"2h":                        now.Add(-2 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"1d12h":                     now.Add(-36 * time.Hour),
	}
	for in, want := range cases {
		got, err := parseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-2h", "2026-13-01", "d", "xd2h"} {
		if _, err := parseWhen(bad, now); err == nil {
			t.Errorf("parseWhen(%q) succeeded", bad)
		}
	}
}

func TestParseRanges(t *testing.T) {
	got, err := parseRanges([]string{"1-5", "9, 12-12"})
	want := []failed.Range{{From: 1, To: 5}, {From: 9, To: 9}, {From: 12, To: 12}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parseRanges = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"5-1", "0-3", "a-b", "1-", "-3"} {
		if _, err := parseRanges([]string{bad}); err == nil {
			t.Errorf("parseRanges(%q) succeeded", bad)
		}
	}
}

func TestFit(t *testing.T) {
	cases := []struct {
		s       string
		w       int
		keepEnd bool
		want    string
	}{
		{"default", 10, false, "default"},
		{"default", 5, false, "defa…"},
		{`App\Jobs\SendEmail`, 10, true, `…SendEmail`},
		{"短信网关返回", 7, false, "短信网…"},
		{"短信网关返回", 6, true, "…返回"},
		{"abc", 1, false, "…"},
	}
	for _, tc := range cases {
		got := fit(tc.s, tc.w, tc.keepEnd)
		if got != tc.want || cellWidth(got) > tc.w {
			t.Errorf("fit(%q, %d, %v) = %q (%d columns), want %q", tc.s, tc.w, tc.keepEnd, got, cellWidth(got), tc.want)
		}
	}
}

// TestTableFitsEveryWidth renders the same records at every width from 73 to 200 columns: no
// line is wider, and each id appears whole.
func TestTableFitsEveryWidth(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	recs := []failed.Record{
		{ID: "3f2c1e9a-8b7d-4c6e-9f1a-2b3c4d5e6f70", Connection: "redis-cluster-eu-west", Queue: "notifications-high", Payload: []byte(`{"displayName":"App\\Jobs\\Notifications\\SendPushNotification","job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{}}`), Exception: "RuntimeException: 推送服务超时，请稍后重试 (after 30 seconds)\n#0 trace", FailedAt: at},
		{ID: "12", Connection: "db", Queue: "q", Payload: []byte(`{"job":"A"}`), Exception: "", FailedAt: at},
	}
	for cols := 73; cols <= 200; cols++ { // 73: a uuid, a date and the narrowest other columns
		var b strings.Builder
		if err := writeFailedTable(&b, recs, cols); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if cellWidth(line) > cols {
				t.Fatalf("at %d columns a line is %d wide:\n%s", cols, cellWidth(line), b.String())
			}
		}
		if !strings.Contains(b.String(), recs[0].ID) {
			t.Fatalf("at %d columns the id is cut:\n%s", cols, b.String())
		}
	}
}

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " y \n": true, "n\n": false, "\n": false, "": false, "yes please\n": false} {
		var out strings.Builder
		if got := confirm(strings.NewReader(in), &out, "Delete all 3 failed jobs?"); got != want {
			t.Errorf("confirm(%q) = %v, want %v", in, got, want)
		}
		if out.String() != "Delete all 3 failed jobs? [y/N] " {
			t.Errorf("prompt = %q", out.String())
		}
	}
}

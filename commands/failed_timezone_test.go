package commands_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/internal/sqldb"
)

// TestFailedTimezone: with timezone = "Asia/Shanghai", rows PHP wrote in Shanghai's wall clock
// are listed at their instants with the +08:00 offset, --since and --before (durations and
// typed wall clocks) select by those instants, and flush --hours=1 and prune-failed --hours=1
// keep the row that failed ten minutes ago and delete the one from two hours ago.
func TestFailedTimezone(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "timezone = \"Asia/Shanghai\"\n"+sqliteConfig)
	expect(t, e.ok("failed"), 0, "No failed jobs.") // creates failed_jobs
	now := time.Now().Truncate(time.Second)
	recent, old := now.Add(-10*time.Minute), now.Add(-2*time.Hour)
	// Rows as Laravel's DatabaseUuidFailedJobProvider writes them with app.timezone Asia/Shanghai.
	seedPHP := func() (string, string) {
		t.Helper()
		db, err := sqldb.Open(context.Background(), "sqlite", filepath.Join(e.dir, "qctl.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if sqlDB, err := db.DB(); err == nil {
				sqlDB.Close()
			}
		}()
		var ids []string
		for _, at := range []time.Time{old, recent} {
			pl, id := recordPayload(t, "Record", `1`)
			if err := db.Exec(`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at) VALUES (?, 'database', 'default', ?, 'boom', ?)`,
				id, string(pl), at.In(loc).Format(time.DateTime)).Error; err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids[0], ids[1]
	}
	oldID, recentID := seedPHP()

	r := e.ok("failed", "--json")
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l struct {
			ID       string
			FailedAt string `json:"failed_at"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		want := map[string]time.Time{oldID: old, recentID: recent}[l.ID].In(loc).Format(time.RFC3339)
		if l.FailedAt != want {
			t.Errorf("failed --json prints %s's failed_at as %s, want %s", l.ID, l.FailedAt, want)
		}
	}
	if out := e.ok("failed").stdout; !strings.Contains(out, recent.In(loc).Format("2006-01-02 15:04")) {
		t.Errorf("the table does not show Shanghai's wall clock %s:\n%s", recent.In(loc).Format("2006-01-02 15:04"), out)
	}
	hourAgo := now.Add(-time.Hour).In(loc).Format(time.DateTime)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--since", "1h"}, []string{recentID}},
		{[]string{"--since", hourAgo}, []string{recentID}},
		{[]string{"--before", hourAgo}, []string{oldID}},
		{[]string{"--before", "1h"}, []string{oldID}},
	} {
		if got := lineIDs(listJSON(t, e, tc.args...)); !slices.Equal(got, tc.want) {
			t.Errorf("failed %v lists %v, want %v", tc.args, got, tc.want)
		}
	}

	expect(t, e.ok("flush", "--hours", "1"), 0, "1 failed jobs older than 1 hours deleted")
	if got := lineIDs(listJSON(t, e)); !slices.Equal(got, []string{recentID}) {
		t.Fatalf("flush --hours=1 left %v, want only the row from ten minutes ago %s", got, recentID)
	}
	e.ok("flush")
	oldID, recentID = seedPHP()
	expect(t, e.ok("prune-failed", "--hours", "1"), 0, "1 failed jobs older than 1 hours deleted")
	if got := lineIDs(listJSON(t, e)); !slices.Equal(got, []string{recentID}) {
		t.Fatalf("prune-failed --hours=1 left %v, want only %s", got, recentID)
	}
}

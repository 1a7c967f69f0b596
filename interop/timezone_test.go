package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// setTimezone gives both sides zone name: Laravel's app.timezone and qctl's timezone key.
func (e *env) setTimezone(name string) {
	e.t.Helper()
	toml, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append([]byte(fmt.Sprintf("timezone = %q\n", name)), toml...), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.b.phpEnv = append(e.b.phpEnv, "QCTL_PHP_TIMEZONE="+name)
}

// laravelFailAt records a failed job through Laravel's provider as if it failed at at, and
// returns its uuid.
func (e *env) laravelFailAt(queue string, at time.Time) string {
	e.t.Helper()
	id := uuid.NewString()
	payload := fmt.Sprintf(`{"uuid":%q,"displayName":"Interop\\FailJob","job":"Interop\\FailJob@handle","maxTries":null,"data":{}}`, id)
	cmd := e.phpCmd("fail.php", e.b.conn, queue, payload, "Exception: failed in the past")
	cmd.Env = append(cmd.Env, "QCTL_PHP_NOW="+strconv.FormatInt(at.Unix(), 10))
	if r := run(e.t, cmd); r.code != 0 || strings.TrimSpace(r.stdout) != id {
		e.t.Fatalf("php fail.php: %s", r)
	}
	return id
}

// TestTimezoneAgreesWithLaravel: with app.timezone and qctl's timezone both Asia/Shanghai, rows
// Laravel wrote (by its worker now, and through its provider ten minutes and two hours ago) are
// listed by `qctl failed --json` at their instants with +08:00; --since selects by those
// instants; `qctl flush --hours=1` deletes only the two-hour-old row; and the row qctl wrote is
// one Laravel's `queue:prune-failed --hours=1` keeps.
func TestTimezoneAgreesWithLaravel(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, kind, "")
		e.setTimezone("Asia/Shanghai")
		e.addHandlers(e.execHandler(`Interop\Flaky`, fmt.Sprintf("INTEROP_REFUSE_UNLESS = %q", filepath.Join(e.dir, "never"))))
		queue := "zoned"
		start := time.Now().Truncate(time.Second)

		// qctl fails one job, Laravel's worker another; Laravel's provider logs two older ones.
		e.laravelPush(
			map[string]any{"push": `Interop\Flaky@handle`, "data": map[string]any{}, "queue": queue},
			map[string]any{"push": `Interop\FailJob@handle`, "data": map[string]any{}, "queue": queue + "-php"},
		)
		if r := e.qctlOK("work", e.b.conn, "--queue", queue, "--tries", "1", "--stop-when-empty"); !strings.Contains(r.stdout, "FAIL") {
			t.Fatalf("qctl work did not fail the job: %s", r)
		}
		if r := e.artisan("queue:work", e.b.conn, "--queue="+queue+"-php", "--once", "--tries=1"); r.code != 0 || !strings.Contains(r.stdout, "Failed:") {
			t.Fatalf("Laravel's worker did not fail the job: %s", r)
		}
		tenAgo, twoHoursAgo := start.Add(-10*time.Minute), start.Add(-2*time.Hour)
		recentID := e.laravelFailAt(queue, tenAgo)
		oldID := e.laravelFailAt(queue, twoHoursAgo)
		end := time.Now()

		byQueue := map[string]string{}
		for _, f := range e.qctlFailedJobs() {
			exact := map[string]time.Time{recentID: tenAgo, oldID: twoHoursAgo}
			if want, ok := exact[f.ID]; ok && !f.FailedAt.Equal(want) {
				t.Errorf("qctl reads Laravel's row %s as failed at %v, want %v", f.ID, f.FailedAt, want.In(loc))
			}
			if _, ok := exact[f.ID]; !ok {
				byQueue[f.Queue] = f.ID
				if f.FailedAt.Before(start) || f.FailedAt.After(end) {
					t.Errorf("qctl reads the row that failed just now on %s as failed at %v, want between %v and %v", f.Queue, f.FailedAt, start, end)
				}
			}
			if _, offset := f.FailedAt.Zone(); offset != 8*3600 {
				t.Errorf("failed --json prints %s's failed_at as %v, want it with +08:00", f.ID, f.FailedAt)
			}
		}
		qctlID, phpID := byQueue[queue], byQueue[queue+"-php"]
		if qctlID == "" || phpID == "" {
			t.Fatalf("qctl failed does not list both jobs that failed just now: %v", byQueue)
		}

		hourAgo := start.Add(-time.Hour)
		want := []string{phpID, qctlID, recentID}
		slices.Sort(want)
		for _, since := range []string{"1h", hourAgo.In(loc).Format(time.DateTime)} {
			var got []string
			for _, f := range e.qctlFailedJobs("--since", since) {
				got = append(got, f.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("qctl failed --since %q lists %v, want %v (not the two-hour-old %s)", since, got, want, oldID)
			}
		}

		if r := e.qctlOK("flush", "--hours", "1"); !strings.Contains(r.stdout, "1 failed jobs older than 1 hours deleted") {
			t.Errorf("qctl flush --hours=1 did not delete just the two-hour-old row: %s", r)
		}
		if got := e.laravelFailed(recentID); len(got) != 1 {
			t.Errorf("qctl flush --hours=1 deleted the row Laravel wrote ten minutes ago")
		}

		e.laravelFailAt(queue, twoHoursAgo)
		if r := e.artisan("queue:prune-failed", "--hours=1"); r.code != 0 || !strings.Contains(r.stdout, "1 entries deleted") {
			t.Errorf("Laravel's queue:prune-failed --hours=1 did not delete just the two-hour-old row: %s", r)
		}
		if got := e.laravelFailed(qctlID); len(got) != 1 {
			t.Fatalf("Laravel's queue:prune-failed --hours=1 deleted the row qctl wrote just now")
		}
		if at, err := time.ParseInLocation(time.DateTime, e.laravelFailed(qctlID)[0].FailedAt, loc); err != nil || at.Before(start) || at.After(end) {
			t.Errorf("Laravel reads qctl's failed_at as %v (%v), want Shanghai's wall clock of a time between %v and %v", at, err, start, end)
		}
	})
}

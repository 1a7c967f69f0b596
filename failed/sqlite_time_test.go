package failed_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/internal/sqldb"
)

// TestSQLiteFailedAtIsLaravelText: on SQLite, failed_at is written as Laravel writes it
// ("Y-m-d H:i:s" in UTC, no offset), so a table both write to holds one format, which the time
// filters compare as text.
func TestSQLiteFailedAtIsLaravelText(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, ref := openLayout(t, dialects[0], c, failed.LayoutDetect)
	qctlID, laravelID := uuid.NewString(), uuid.NewString()
	if _, err := s.Log(ctx, "database", "default", []byte(`{"uuid":"`+qctlID+`","job":"A"}`), "qctl"); err != nil {
		t.Fatal(err)
	}
	// A row as Laravel's DatabaseUuidFailedJobProvider writes it, an hour earlier.
	ref.execArgs(t, `INSERT INTO {{table}} (uuid, connection, queue, payload, exception, failed_at) VALUES (?, ?, ?, ?, ?, ?)`,
		laravelID, "database", "default", `{"uuid":"`+laravelID+`","job":"B"}`, "laravel", "2026-11-01 11:00:00")

	db, err := sqldb.Open(ctx, ref.dialect, ref.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	var text string
	if err := db.Raw(`SELECT failed_at || '' FROM `+sqldb.Quote(ref.dialect, ref.table)+` WHERE uuid = ?`, qctlID).Row().Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text != "2026-11-01 12:00:00" {
		t.Fatalf("failed_at stored as %q, want Laravel's %q", text, "2026-11-01 12:00:00")
	}
	for _, tc := range []struct {
		f    failed.Filter
		want string
	}{
		{failed.Filter{Since: c.now}, qctlID},
		{failed.Filter{Before: c.now}, laravelID},
	} {
		recs, _, err := s.List(ctx, tc.f)
		if err != nil || len(recs) != 1 || recs[0].ID != tc.want {
			t.Errorf("List(%+v) = %+v, %v; want only %s", tc.f, recs, err, tc.want)
		}
	}
}

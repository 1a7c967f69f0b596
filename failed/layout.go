package failed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/qctl/qctl/migrations"
)

// Layout names the shape of the failed-job table.
type Layout string

const (
	// LayoutDetect reads the layout from the existing table, and creates Laravel's when there is
	// none. It is the zero value, so callers that predate the think-queue layout keep working.
	LayoutDetect Layout = ""
	// LayoutLaravel is Laravel's failed_jobs: an auto id, a unique uuid (the id users see and
	// type), connection, queue, payload, exception and failed_at.
	LayoutLaravel Layout = "laravel"
	// LayoutThink is think-queue 3's failed table: an auto id (the id users see and type),
	// connection, queue, payload, exception and fail_time. think-queue's migration makes
	// fail_time a timestamp; tables made by hand with a unix-seconds integer work too.
	LayoutThink Layout = "think"
)

// layout is what the statements need to know about the table: which column users' ids live in
// and how failure times are stored.
type layout struct {
	kind     Layout
	idCol    string // "uuid" or "id"
	timeCol  string // "failed_at" or "fail_time"
	unixTime bool   // timeCol holds unix seconds (an integer column), not a timestamp
	textTime bool   // SQLite, MySQL: times are sent as text, as Laravel writes them ("2006-01-02 15:04:05")
	// loc is the zone PHP writes timeCol's wall clock in (Laravel's app.timezone, ThinkPHP's
	// default_timezone): timestamps carry no zone, so qctl writes and reads them in it too.
	loc *time.Location
}

func layoutFor(kind Layout) layout {
	if kind == LayoutThink {
		return layout{kind: LayoutThink, idCol: "id", timeCol: "fail_time"}
	}
	return layout{kind: LayoutLaravel, idCol: "uuid", timeCol: "failed_at"}
}

func (l Layout) target(table string) migrations.Target {
	if l == LayoutThink {
		return migrations.Target{Kind: migrations.ThinkFailedJobs, Table: table}
	}
	return migrations.Target{Kind: migrations.FailedJobs, Table: table}
}

// inspect reads the existing table's columns and returns its layout, checking it against want:
// a Laravel table opened as think-queue's (or the other way round) is refused with a message
// naming the config key, because reading one as the other would show wrong ids.
func inspect(ctx context.Context, db *gorm.DB, table string, want Layout) (layout, error) {
	cols, err := db.WithContext(ctx).Migrator().ColumnTypes(table)
	if err != nil {
		return layout{}, fmt.Errorf("reading the columns of %q: %w", table, err)
	}
	types := map[string]string{}
	for _, c := range cols {
		types[strings.ToLower(c.Name())] = strings.ToLower(c.DatabaseTypeName())
	}
	var got layout
	switch {
	case types["uuid"] != "" && types["failed_at"] != "":
		got = layoutFor(LayoutLaravel)
	case types["fail_time"] != "":
		got = layoutFor(LayoutThink)
		got.unixTime = strings.Contains(types["fail_time"], "int")
	default:
		return layout{}, fmt.Errorf("table %q is neither Laravel's failed_jobs (uuid, failed_at) nor think-queue's (fail_time)", table)
	}
	if want != LayoutDetect && want != got.kind {
		if got.kind == LayoutLaravel {
			return layout{}, fmt.Errorf("table %q is Laravel's failed_jobs (it has a uuid column) but [failed] uuids = false asks for think-queue's: set uuids = true or name another table", table)
		}
		return layout{}, fmt.Errorf("table %q is think-queue's failed table (it has fail_time, no uuid) but [failed] uuids = true: set uuids = false or name another table", table)
	}
	return got, nil
}

// timeArg is t as the table stores it: unix seconds in an integer column, else t's wall clock in
// l.loc, as PHP's query builder writes Date::now() (or Carbon::now()) of the app's zone. On
// SQLite that is Laravel's "Y-m-d H:i:s" text rather than the driver's rendering of a time.Time
// (which adds "+00:00"), so rows either side wrote look alike and compare as text in order. On
// MySQL it is the same text, which the server reads as PHP's and which, unlike a time.Time, the
// driver does not shift into the DSN's loc. PostgreSQL gets the wall clock labelled UTC, which
// pgx sends as it is.
func (l layout) timeArg(t time.Time) any {
	if l.unixTime {
		return t.Unix()
	}
	wall := wallClock(t, l.loc)
	if l.textTime {
		return wall.Format(time.DateTime)
	}
	return wall
}

// wallClock is t's wall clock in loc, labelled UTC: the zone-less value a timestamp column holds.
func wallClock(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// inZone reads a zone-less wall clock (which drivers hand over labelled UTC) as a time in loc.
func inZone(wall time.Time, loc *time.Location) time.Time {
	return time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
}

// rowID reads a user-typed id as a think-queue integer id; ok is false for anything else.
func rowID(id string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	return n, err == nil && n > 0
}

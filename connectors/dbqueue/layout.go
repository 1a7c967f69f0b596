package dbqueue

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

// Formats name the two jobs tables the connector speaks. They differ only in the names of the
// three time columns; ids, attempts and the push, pop, delete and release rules are the same.
const (
	FormatLaravel = "laravel" // Laravel's jobs: reserved_at, available_at, created_at
	FormatThink   = "think"   // think-queue 3's jobs: reserve_time, available_time, create_time
)

// layout is what the statements need to know about a format's jobs table: the names of its time
// columns. Every SQL text is built from these, so no code path can mix the two formats.
type layout struct {
	format    string
	reserved  string // unix second of the last pop; NULL while the job waits
	available string // unix second the job becomes due
	created   string // unix second of the push (or of the release, which inserts anew)
	kind      migrations.Kind
	// notifyKind is the migration of the table's notify_trigger (PostgreSQL).
	notifyKind migrations.Kind
}

// layoutFor returns format's layout; "" means FormatLaravel.
func layoutFor(format string) (layout, error) {
	switch format {
	case "", FormatLaravel:
		return layout{format: FormatLaravel, reserved: "reserved_at", available: "available_at",
			created: "created_at", kind: migrations.Jobs, notifyKind: migrations.JobsNotify}, nil
	case FormatThink:
		return layout{format: FormatThink, reserved: "reserve_time", available: "available_time",
			created: "create_time", kind: migrations.ThinkJobs, notifyKind: migrations.ThinkJobsNotify}, nil
	}
	return layout{}, fmt.Errorf("unknown format %q (want %q or %q)", format, FormatLaravel, FormatThink)
}

// Targets returns the tables a Queue opened with o needs, the jobs table in o.Format's layout and
// the signals table (and the jobs table's trigger with NotifyTrigger), so `qctl migrate` creates
// exactly what Open checks for. An unknown format
// gets Laravel's jobs table; Open refuses it.
func (o Options) Targets() []migrations.Target {
	l, err := layoutFor(o.Format)
	if err != nil {
		l, _ = layoutFor(FormatLaravel)
	}
	targets := []migrations.Target{{Kind: l.kind, Table: o.Table}, {Kind: migrations.Signals, Table: o.SignalsTable}}
	if o.NotifyTrigger {
		targets = append(targets, migrations.Target{Kind: l.notifyKind, Table: o.Table})
	}
	return targets
}

// FleetTarget is the fleet table a Queue opened with o keeps its worker registry in: `qctl
// migrate` creates it, but Open does not require it, so a database migrated before it existed
// still runs jobs.
func (o Options) FleetTarget() migrations.Target {
	return migrations.Target{Kind: migrations.Fleet, Table: o.FleetTable}
}

// check refuses a jobs table made for the other format, naming the config key to change: pushes
// to it would fail, and pops would never find a job, with only a database error to go by. A
// one-row-less SELECT of the columns is the check every start pays; the table's columns are read
// only when it fails, to say why.
func (l layout) check(ctx context.Context, db *gorm.DB, dialect, table string) error {
	probe := "SELECT id, queue, payload, attempts, " + l.reserved + ", " + l.available + ", " + l.created +
		" FROM " + sqldb.Quote(dialect, table) + " WHERE 1 = 0"
	if err := db.WithContext(ctx).Exec(probe).Error; err == nil {
		return nil
	} else if sqldb.IsConnectionError(err) {
		return err
	}
	cols, err := db.WithContext(ctx).Migrator().ColumnTypes(table)
	if err != nil {
		return fmt.Errorf("reading the columns of %q: %w", table, err)
	}
	has := map[string]bool{}
	for _, c := range cols {
		has[strings.ToLower(c.Name())] = true
	}
	if has[l.reserved] && has[l.available] && has[l.created] {
		return nil
	}
	other := FormatThink
	if l.format == FormatThink {
		other = FormatLaravel
	}
	ol, _ := layoutFor(other)
	if has[ol.reserved] && has[ol.available] && has[ol.created] {
		return fmt.Errorf("table %q is %s's jobs table (%s, %s, %s) but the connection has format = %q: set format = %q or name another table",
			table, formatOwner(other), ol.reserved, ol.available, ol.created, l.format, other)
	}
	return fmt.Errorf("table %q has neither Laravel's time columns (reserved_at, available_at, created_at) nor think-queue's (reserve_time, available_time, create_time)", table)
}

// formatOwner names the PHP library whose table a format is.
func formatOwner(format string) string {
	if format == FormatThink {
		return "think-queue"
	}
	return "Laravel"
}

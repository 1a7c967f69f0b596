// Package failed is the failed-job store: Laravel's `failed_jobs` table (uuid-keyed), or
// think-queue 3's (integer ids, fail_time), on SQLite, PostgreSQL or MySQL/MariaDB. A job enters it when it runs out of tries, fails for good, or cannot
// be read; `qctl failed`, `retry`, `forget` and `flush` read and empty it.
package failed

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

// ErrNotFound means no failed job has the given id.
var ErrNotFound = errors.New("No failed job matches the given ID.")

// Record is one failed job.
type Record struct {
	// ID is the id users see and type: the job's uuid in Laravel's table (`failed_jobs.uuid`),
	// the decimal row id in think-queue's.
	ID string
	// RowID is the table's auto-increment id, which `retry --range` and batch deletes use.
	RowID      int64
	Connection string
	Queue      string
	Payload    []byte
	Exception  string
	FailedAt   time.Time
}

// Options say where the store lives.
type Options struct {
	Dialect, DSN, Table string
	// Layout is the table's shape; LayoutDetect (the zero value) reads it from the table and
	// creates Laravel's when there is none.
	Layout Layout
	// AutoMigrate creates the table when it is missing (the SQLite default does, so a newcomer
	// needs no extra step; on a server the command layer asks for `qctl migrate` instead).
	AutoMigrate bool
	// Now is the clock for failure times; nil = time.Now.
	Now func() time.Time
	// Location is the zone failure times are written in and zone-less stored times are read in:
	// the PHP side's (Laravel's app.timezone, ThinkPHP's default_timezone), since timestamp
	// columns keep only a wall clock. Records come back in it. nil = UTC.
	Location *time.Location
}

// Store is the failed-job table, Laravel's or think-queue's.
type Store struct {
	db      *gorm.DB
	dialect string
	dsn     string // as configured, for Database; "" for a store made with New
	table   string // quoted for the dialect
	name    string // as configured, for messages
	layout  layout
	now     func() time.Time
}

// Open connects to the store's database, creating the table when asked to, and checks that an
// existing table has the layout asked for.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Table == "" {
		o.Table = "failed_jobs"
	}
	db, err := sqldb.Open(ctx, o.Dialect, o.DSN)
	if errors.Is(err, sqldb.ErrUnreachable) {
		// A server that is down is an outage a worker waits out, as for its queue's backend.
		return nil, fmt.Errorf("failed-job store: %w: %w", connectors.ErrUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("failed-job store: %w", err)
	}
	target := o.Layout.target(o.Table)
	if o.AutoMigrate {
		if o.Layout == LayoutDetect && db.WithContext(ctx).Migrator().HasTable(o.Table) {
			// An existing table keeps its layout; only a missing one is created as Laravel's.
		} else if _, err := migrations.Apply(ctx, db, o.Dialect, target); err != nil {
			closeDB(db)
			return nil, fmt.Errorf("failed-job store: creating table %q: %w", o.Table, err)
		}
	} else if missing, err := migrations.Missing(ctx, db, target); err != nil {
		closeDB(db)
		return nil, fmt.Errorf("failed-job store: %w", err)
	} else if len(missing) > 0 {
		closeDB(db)
		return nil, fmt.Errorf("failed-job store: table %q does not exist in the %s database: run `qctl migrate`", o.Table, o.Dialect)
	}
	l, err := inspect(ctx, db, o.Table, o.Layout)
	if err != nil {
		closeDB(db)
		return nil, fmt.Errorf("failed-job store: %w", err)
	}
	s := New(db, o.Dialect, o.Table, o.Now)
	s.dsn = o.DSN
	l.textTime, l.loc = s.layout.textTime, s.layout.loc
	if o.Location != nil {
		l.loc = o.Location
	}
	s.layout = l
	return s, nil
}

// New wraps an open database whose Laravel-layout table already exists; its times are UTC.
func New(db *gorm.DB, dialect, table string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, dialect: dialect, table: sqldb.Quote(dialect, table), name: table, layout: layoutFor(LayoutLaravel), now: now}
	s.layout.textTime = dialect == sqldb.SQLite || dialect == sqldb.MySQL
	s.layout.loc = time.UTC
	return s
}

// Close closes the database connections.
func (s *Store) Close() error { return closeDB(s.db) }

// Layout reports the table's layout.
func (s *Store) Layout() Layout { return s.layout.kind }

// Log records a failed job and returns its id. In Laravel's table that is the payload's uuid when
// it has one (so PHP and qctl agree on it), else a new one; a uuid already in the table gets a
// fresh one rather than losing the record. In think-queue's table it is the new row id.
func (s *Store) Log(ctx context.Context, connection, queue string, payload []byte, exception string) (string, error) {
	at := s.layout.timeArg(s.now().Truncate(time.Second))
	id := payloadUUID(payload)
	text, exception := storable(s.dialect, payload, exception)
	if s.layout.kind == LayoutThink {
		return s.logThink(ctx, connection, queue, text, exception, at)
	}
	if id == "" {
		id = uuid.NewString()
	}
	insert := "INSERT INTO " + s.table + " (uuid, connection, queue, payload, exception, failed_at) VALUES (?, ?, ?, ?, ?, ?)"
	err := s.db.WithContext(ctx).Exec(insert, id, connection, queue, text, exception, at).Error
	if err != nil {
		if !sqldb.IsUniqueViolation(err) {
			return "", fmt.Errorf("recording failed job in %q: %w", s.name, err)
		}
		// The uuid is taken (the same job failed twice without a retry): keep both records.
		id = uuid.NewString()
		if err := s.db.WithContext(ctx).Exec(insert, id, connection, queue, text, exception, at).Error; err != nil {
			return "", fmt.Errorf("recording failed job in %q: %w", s.name, err)
		}
	}
	return id, nil
}

func (s *Store) logThink(ctx context.Context, connection, queue, payload, exception string, at any) (string, error) {
	insert := "INSERT INTO " + s.table + " (connection, queue, payload, exception, fail_time) VALUES (?, ?, ?, ?, ?)"
	args := []any{connection, queue, payload, exception, at}
	var id int64
	if s.dialect == sqldb.MySQL {
		sqlDB, err := s.db.DB()
		if err == nil {
			var res sql.Result
			if res, err = sqlDB.ExecContext(ctx, insert, args...); err == nil {
				id, err = res.LastInsertId()
			}
		}
		if err != nil {
			return "", fmt.Errorf("recording failed job in %q: %w", s.name, err)
		}
	} else if err := s.db.WithContext(ctx).Raw(insert+" RETURNING id", args...).Scan(&id).Error; err != nil {
		return "", fmt.Errorf("recording failed job in %q: %w", s.name, err)
	}
	return strconv.FormatInt(id, 10), nil
}

// columns is what every read selects, in Record order.
func (s *Store) columns() string {
	return s.layout.idCol + ", id, connection, queue, payload, exception, " + s.layout.timeCol
}

// List returns failed jobs newest first, and how many matched in all (beyond Limit).
func (s *Store) List(ctx context.Context, f Filter) ([]Record, int64, error) {
	total, err := s.Count(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	where, args := s.where(f)
	query := "SELECT " + s.columns() + " FROM " + s.table + where + " ORDER BY id DESC"
	if f.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(f.Limit)
	}
	recs, err := s.query(ctx, query, args...)
	return recs, total, err
}

// Head returns up to f.Limit failed jobs f matches, newest first, and counts nothing: the scan
// stops once it has f.Limit rows, where List also counts every match. A filter on text (exception,
// job name) is a scan of the column, so a page of matches costs one scan that ends early instead
// of two that read every row. Ask for one row more than a page to learn whether there are more.
func (s *Store) Head(ctx context.Context, f Filter) ([]Record, error) {
	where, args := s.where(f)
	query := "SELECT " + s.columns() + " FROM " + s.table + where + " ORDER BY id DESC"
	if f.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return s.query(ctx, query, args...)
}

// Count counts the failed jobs f matches (Limit aside).
func (s *Store) Count(ctx context.Context, f Filter) (int64, error) {
	where, args := s.where(f)
	var total int64
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM "+s.table+where, args...).Scan(&total).Error; err != nil {
		return 0, fmt.Errorf("counting %q: %w", s.name, err)
	}
	return total, nil
}

// Find returns one failed job by the id users see (uuid, or think-queue's integer id), or an
// error wrapping ErrNotFound.
func (s *Store) Find(ctx context.Context, id string) (*Record, error) {
	key, ok := s.key(id)
	if !ok {
		return nil, fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	recs, err := s.query(ctx, "SELECT "+s.columns()+" FROM "+s.table+" WHERE "+s.layout.idCol+" = ?", key)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	return &recs[0], nil
}

// key turns a user-typed id into the id column's value; think-queue's ids must be integers.
func (s *Store) key(id string) (any, bool) {
	if s.layout.kind == LayoutThink {
		return rowID(id)
	}
	return id, id != ""
}

// Forget deletes one failed job; it returns an error wrapping ErrNotFound when there was none.
func (s *Store) Forget(ctx context.Context, id string) error {
	key, ok := s.key(id)
	if !ok {
		return fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	res := s.db.WithContext(ctx).Exec("DELETE FROM "+s.table+" WHERE "+s.layout.idCol+" = ?", key)
	if res.Error != nil {
		return fmt.Errorf("forgetting %q: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	return nil
}

// Flush deletes failed jobs older than olderThan (all of them when it is 0) and counts them.
func (s *Store) Flush(ctx context.Context, olderThan time.Duration) (int64, error) {
	query, args := "DELETE FROM "+s.table, []any(nil)
	if olderThan > 0 {
		query, args = query+" WHERE "+s.layout.timeCol+" < ?", []any{s.layout.timeArg(s.now().Add(-olderThan))}
	}
	res := s.db.WithContext(ctx).Exec(query, args...)
	if res.Error != nil {
		return 0, fmt.Errorf("flushing %q: %w", s.name, res.Error)
	}
	return res.RowsAffected, nil
}

func (s *Store) query(ctx context.Context, query string, args ...any) ([]Record, error) {
	rows, err := s.db.WithContext(ctx).Raw(query, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", s.name, err)
	}
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		var r Record
		var id, payload, exception string
		at := flexTime{loc: s.layout.loc}
		if err := rows.Scan(&id, &r.RowID, &r.Connection, &r.Queue, &payload, &exception, &at); err != nil {
			return nil, fmt.Errorf("reading %q: %w", s.name, err)
		}
		r.ID, r.Payload, r.Exception, r.FailedAt = id, []byte(payload), exception, at.t
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %q: %w", s.name, err)
	}
	return recs, nil
}

// payloadUUID reads the payload's uuid, "" when it has none or is not JSON. A raw NUL, which
// JSON forbids in a string, is read as its escape, so such a payload keeps its uuid too.
func payloadUUID(payload []byte) string {
	var p struct {
		UUID string `json:"uuid"`
	}
	if json.Unmarshal(bytes.ReplaceAll(payload, []byte{0}, []byte(`\u0000`)), &p) != nil {
		return ""
	}
	if _, err := uuid.Parse(p.UUID); err != nil {
		return ""
	}
	return p.UUID
}

// flexTime scans a timestamp whichever way the driver hands it over (SQLite stores text) into a
// time in loc. A wall clock without a zone is read in loc: drivers label such values UTC
// (PostgreSQL's timestamp without time zone, MySQL's DATETIME and TIMESTAMP, SQLite's text), so
// a UTC time.Time is taken as one; a time in another zone, or text with an offset, keeps its
// instant.
type flexTime struct {
	t   time.Time
	loc *time.Location
}

func (f *flexTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		if x.Location() == time.UTC {
			x = inZone(x, f.loc)
		}
		f.t = x.In(f.loc)
		return nil
	case []byte:
		return f.parse(string(x))
	case string:
		return f.parse(x)
	case int64:
		f.t = time.Unix(x, 0).In(f.loc)
		return nil
	}
	return fmt.Errorf("failed_at: cannot read %T", v)
}

func (f *flexTime) parse(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t.In(f.loc)
			return nil
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, f.loc); err == nil {
			f.t = t
			return nil
		}
	}
	return fmt.Errorf("failed_at: cannot read %q", s)
}

var _ sql.Scanner = (*flexTime)(nil)

func closeDB(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

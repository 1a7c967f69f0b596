// Package failed is the failed-job store: Laravel's `failed_jobs` table (uuid-keyed) on SQLite,
// PostgreSQL or MySQL/MariaDB. A job enters it when it runs out of tries, fails for good, or cannot
// be read; `qctl failed`, `retry`, `forget` and `flush` read and empty it.
package failed

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

// ErrNotFound means no failed job has the given id.
var ErrNotFound = errors.New("No failed job matches the given ID.")

// Record is one failed job.
type Record struct {
	// ID is the job's uuid, the id users see and type (Laravel's `failed_jobs.uuid`).
	ID         string
	Connection string
	Queue      string
	Payload    []byte
	Exception  string
	FailedAt   time.Time
}

// Filter narrows List; zero fields match everything.
type Filter struct {
	Queue  string
	Since  time.Time // failed at or after
	Before time.Time // failed before
	Limit  int       // 0 = no limit
}

// Options say where the store lives.
type Options struct {
	Dialect, DSN, Table string
	// AutoMigrate creates the table when it is missing (the SQLite default does, so a newcomer
	// needs no extra step; on a server the command layer asks for `qctl migrate` instead).
	AutoMigrate bool
	// Now is the clock for failed_at; nil = time.Now.
	Now func() time.Time
}

// Store is the failed_jobs table.
type Store struct {
	db      *gorm.DB
	dialect string
	table   string // quoted for the dialect
	name    string // as configured, for messages
	now     func() time.Time
}

// Open connects to the store's database, creating the table when asked to.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Table == "" {
		o.Table = "failed_jobs"
	}
	db, err := sqldb.Open(ctx, o.Dialect, o.DSN)
	if err != nil {
		return nil, fmt.Errorf("failed-job store: %w", err)
	}
	target := migrations.Target{Kind: migrations.FailedJobs, Table: o.Table}
	if o.AutoMigrate {
		if _, err := migrations.Apply(ctx, db, o.Dialect, target); err != nil {
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
	return New(db, o.Dialect, o.Table, o.Now), nil
}

// New wraps an open database whose table already exists.
func New(db *gorm.DB, dialect, table string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, dialect: dialect, table: sqldb.Quote(dialect, table), name: table, now: now}
}

// Close closes the database connections.
func (s *Store) Close() error { return closeDB(s.db) }

// Log records a failed job and returns its id: the payload's uuid when it has one (so PHP and qctl
// agree on it), else a new one. A uuid already in the table gets a fresh one rather than losing
// the record.
func (s *Store) Log(ctx context.Context, connection, queue string, payload []byte, exception string) (string, error) {
	id := payloadUUID(payload)
	if id == "" {
		id = uuid.NewString()
	}
	insert := "INSERT INTO " + s.table + " (uuid, connection, queue, payload, exception, failed_at) VALUES (?, ?, ?, ?, ?, ?)"
	at := s.now().UTC().Truncate(time.Second)
	err := s.db.WithContext(ctx).Exec(insert, id, connection, queue, string(payload), exception, at).Error
	if err != nil {
		if !sqldb.IsUniqueViolation(err) {
			return "", fmt.Errorf("recording failed job in %q: %w", s.name, err)
		}
		// The uuid is taken (the same job failed twice without a retry): keep both records.
		id = uuid.NewString()
		if err := s.db.WithContext(ctx).Exec(insert, id, connection, queue, string(payload), exception, at).Error; err != nil {
			return "", fmt.Errorf("recording failed job in %q: %w", s.name, err)
		}
	}
	return id, nil
}

const columns = "uuid, connection, queue, payload, exception, failed_at"

// List returns failed jobs newest first, and how many matched in all (beyond Limit).
func (s *Store) List(ctx context.Context, f Filter) ([]Record, int64, error) {
	where, args := f.where()
	var total int64
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM "+s.table+where, args...).Scan(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("listing %q: %w", s.name, err)
	}
	query := "SELECT " + columns + " FROM " + s.table + where + " ORDER BY id DESC"
	if f.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(f.Limit)
	}
	recs, err := s.query(ctx, query, args...)
	return recs, total, err
}

func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	if f.Queue != "" {
		conds, args = append(conds, "queue = ?"), append(args, f.Queue)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "failed_at >= ?"), append(args, f.Since.UTC())
	}
	if !f.Before.IsZero() {
		conds, args = append(conds, "failed_at < ?"), append(args, f.Before.UTC())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Find returns one failed job by uuid, or an error wrapping ErrNotFound.
func (s *Store) Find(ctx context.Context, id string) (*Record, error) {
	recs, err := s.query(ctx, "SELECT "+columns+" FROM "+s.table+" WHERE uuid = ?", id)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	return &recs[0], nil
}

// Forget deletes one failed job; it returns an error wrapping ErrNotFound when there was none.
func (s *Store) Forget(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Exec("DELETE FROM "+s.table+" WHERE uuid = ?", id)
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
		query, args = query+" WHERE failed_at < ?", []any{s.now().Add(-olderThan).UTC()}
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
		var payload, exception string
		var at flexTime
		if err := rows.Scan(&r.ID, &r.Connection, &r.Queue, &payload, &exception, &at); err != nil {
			return nil, fmt.Errorf("reading %q: %w", s.name, err)
		}
		r.Payload, r.Exception, r.FailedAt = []byte(payload), exception, at.t
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// payloadUUID reads the payload's uuid, "" when it has none or is not JSON.
func payloadUUID(payload []byte) string {
	var p struct {
		UUID string `json:"uuid"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	if _, err := uuid.Parse(p.UUID); err != nil {
		return ""
	}
	return p.UUID
}

// flexTime scans a timestamp whichever way the driver hands it over (SQLite stores text).
type flexTime struct{ t time.Time }

func (f *flexTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		f.t = x
		return nil
	case []byte:
		return f.parse(string(x))
	case string:
		return f.parse(x)
	case int64:
		f.t = time.Unix(x, 0).UTC()
		return nil
	}
	return fmt.Errorf("failed_at: cannot read %T", v)
}

func (f *flexTime) parse(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
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

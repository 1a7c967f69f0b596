package failed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// forgetChunk bounds the ids of one DELETE … IN (…), far inside every dialect's placeholder limit.
const forgetChunk = 1000

// Page returns up to n failed jobs f matches whose row id is above after, oldest first. Walking
// a large table page by page (passing the last RowID back as after) reads each row once, at a
// cost that does not grow with the pages already read, and is not thrown off by rows deleted
// between pages. f.Limit is ignored.
func (s *Store) Page(ctx context.Context, f Filter, after int64, n int) ([]Record, error) {
	f.Limit = 0
	where, args := s.where(f)
	if where == "" {
		where = " WHERE id > ?"
	} else {
		where += " AND id > ?"
	}
	args = append(args, after)
	query := "SELECT " + s.columns() + " FROM " + s.table + where + " ORDER BY id LIMIT " + strconv.Itoa(n)
	return s.query(ctx, query, args...)
}

// Database returns the dialect and DSN the store was opened with, so a caller can tell whether a
// queue shares its database (and one transaction can cover both).
func (s *Store) Database() (dialect, dsn string) { return s.dialect, s.dsn }

// ForgetStatement is the DELETE that ForgetN runs for rowIDs (at most forgetChunk of them), with
// ? placeholders, for a caller that runs it inside a transaction of its own on the same database.
func (s *Store) ForgetStatement(rowIDs []int64) (query string, args []any) {
	args = make([]any, len(rowIDs))
	for i, id := range rowIDs {
		args[i] = id
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(rowIDs)), ",")
	return "DELETE FROM " + s.table + " WHERE id IN (" + marks + ")", args
}

// ForgetN deletes the failed jobs with the given row ids and returns how many it deleted; ids
// already gone are skipped. Each chunk of ids is one statement.
func (s *Store) ForgetN(ctx context.Context, rowIDs []int64) (int64, error) {
	var deleted int64
	for start := 0; start < len(rowIDs); start += forgetChunk {
		chunk := rowIDs[start:min(start+forgetChunk, len(rowIDs))]
		query, args := s.ForgetStatement(chunk)
		res := s.db.WithContext(ctx).Exec(query, args...)
		if res.Error != nil {
			return deleted, fmt.Errorf("forgetting %d failed jobs in %q: %w", len(chunk), s.name, res.Error)
		}
		deleted += res.RowsAffected
	}
	return deleted, nil
}

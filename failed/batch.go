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

// ForgetN deletes the failed jobs with the given row ids and returns how many it deleted; ids
// already gone are skipped. Each chunk of ids is one statement.
func (s *Store) ForgetN(ctx context.Context, rowIDs []int64) (int64, error) {
	var deleted int64
	for start := 0; start < len(rowIDs); start += forgetChunk {
		chunk := rowIDs[start:min(start+forgetChunk, len(rowIDs))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		res := s.db.WithContext(ctx).Exec("DELETE FROM "+s.table+" WHERE id IN ("+marks+")", args...)
		if res.Error != nil {
			return deleted, fmt.Errorf("forgetting %d failed jobs in %q: %w", len(chunk), s.name, res.Error)
		}
		deleted += res.RowsAffected
	}
	return deleted, nil
}

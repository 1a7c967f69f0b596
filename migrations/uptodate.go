package migrations

import (
	"context"

	"gorm.io/gorm"

	"github.com/qctl/qctl/internal/sqldb"
)

// upToDate reports, with reads only and no lock, whether every table of targets exists and has
// every step of its kind recorded. Apply returns early when it does, so a worker that starts
// against a migrated database (every `listen` child does) pays no write transaction. Any doubt,
// an error included, answers false and Apply takes the locked path.
func upToDate(ctx context.Context, db *gorm.DB, dialect string, targets []Target) bool {
	db = db.WithContext(ctx)
	if missing, err := Missing(ctx, db, append(targets[:len(targets):len(targets)], Target{Table: VersionsTable})...); err != nil || len(missing) > 0 {
		return false
	}
	query := "SELECT COUNT(*) FROM " + sqldb.Quote(dialect, VersionsTable) + " WHERE table_name = ? AND version = ?"
	for _, t := range dedupe(targets) {
		for _, s := range steps {
			if s.kind != t.Kind {
				continue
			}
			var n int64
			if err := db.Raw(query, t.TableName(), s.version).Scan(&n).Error; err != nil || n == 0 {
				return false
			}
		}
	}
	return true
}

package sqldb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	sqlite "github.com/glebarez/go-sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQLite primary result codes (the low byte of an extended code) that mean "try again later".
const (
	sqliteBusy     = 5  // SQLITE_BUSY: another process held the lock past busy_timeout
	sqliteLocked   = 6  // SQLITE_LOCKED
	sqliteIOErr    = 10 // SQLITE_IOERR
	sqliteCantOpen = 14 // SQLITE_CANTOPEN
)

// IsConnectionError reports whether err means the database could not be reached or the
// connection broke (as opposed to a bad statement or a constraint), so the caller should report
// the backend unavailable (a connector wraps connectors.ErrUnavailable) and back off. Open's
// ErrUnreachable is one. A cancelled or expired context is not a connection error.
func IsConnectionError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrUnreachable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is "connection exception"; 57P01-57P03 are shutdown and "cannot connect now";
		// 53300 is too_many_connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		// 1040 too many connections, 1053 server shutdown, 1205 lock wait timeout.
		return myErr.Number == 1040 || myErr.Number == 1053 || myErr.Number == 1205
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteCantOpen:
			return true
		}
	}
	return false
}

// IsUndefinedTable reports whether err says a table does not exist, so a table dropped after
// Open is reported as "run qctl migrate" rather than as an opaque SQL error.
func IsUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "42P01"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1146
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		// SQLite reports a missing table only as SQLITE_ERROR (1) with this text.
		return liteErr.Code()&0xff == 1 && strings.Contains(liteErr.Error(), "no such table")
	}
	return false
}

// IsUniqueViolation reports whether err is a primary key or unique constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1062
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		// SQLITE_CONSTRAINT_PRIMARYKEY (1555) and SQLITE_CONSTRAINT_UNIQUE (2067).
		return liteErr.Code() == 1555 || liteErr.Code() == 2067
	}
	return false
}

// IsDuplicateKeyName reports whether err is MySQL's "duplicate key name" (1061): an index of
// that name exists already.
func IsDuplicateKeyName(err error) bool {
	var myErr *mysql.MySQLError
	return errors.As(err, &myErr) && myErr.Number == 1061
}

// IsDeadlock reports whether err is a deadlock or serialization failure that the statement's
// caller may simply retry.
func IsDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40P01" || pgErr.Code == "40001"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1213
	}
	return false
}

// ErrTooLarge means a job does not fit in one MySQL statement (the server's max_allowed_packet).
var ErrTooLarge = errors.New("the job is larger than the MySQL server accepts in one statement (its max_allowed_packet)")

// tooLargeFix is what to do about ErrTooLarge.
const tooLargeFix = "raise max_allowed_packet on the server (SET GLOBAL max_allowed_packet = 67108864, or in my.cnf) or keep large data out of the payload"

// TooLarge is the error for a payload of size bytes that a server whose max_allowed_packet is
// limit cannot take: said before sending, since a server may just drop the connection.
func TooLarge(size, limit int64) error {
	return fmt.Errorf("%w: %d bytes, the server's limit is %d: %s", ErrTooLarge, size, limit, tooLargeFix)
}

// ExplainTooLarge returns err with what to do when a statement was larger than MySQL allows
// (server error 1153, or the driver's own packet limit). Other errors are returned as they are.
func ExplainTooLarge(err error) error {
	var myErr *mysql.MySQLError
	if (errors.As(err, &myErr) && myErr.Number == 1153) || errors.Is(err, mysql.ErrPktTooLarge) {
		return fmt.Errorf("%w: %s: %w", ErrTooLarge, tooLargeFix, err)
	}
	return err
}

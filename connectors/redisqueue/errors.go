package redisqueue

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
)

// wrap translates a go-redis error into the connector's: a connection problem wraps
// connectors.ErrUnavailable (so the worker backs off and retries), anything else (a Lua error, a
// wrong-type key) is reported with the operation and the key it concerned. nil stays nil.
func (q *Queue) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("redisqueue: %s %s at %s: %w: %w", op, key, q.addr, connectors.ErrUnavailable, err)
	}
	return fmt.Errorf("redisqueue: %s %s: %w", op, key, err)
}

// unavailable reports whether err means Redis could not be reached or cannot serve right now
// (loading, failing over, cluster down), as opposed to a command that Redis refused.
func unavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted),
		errors.As(err, &netErr):
		return true
	case redis.IsLoadingError(err), redis.IsReadOnlyError(err), redis.IsMasterDownError(err),
		redis.IsClusterDownError(err), redis.IsTryAgainError(err), redis.IsMaxClientsError(err):
		return true
	}
	return false
}

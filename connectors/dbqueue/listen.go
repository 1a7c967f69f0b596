package dbqueue

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// The listener is one goroutine per Queue, started by its first Wait (a Queue that only pushes
// never listens) and stopped by Close. It owns a dedicated connection outside the pool, LISTENing
// on the jobs table's channel, and turns each notification into a wakeup. A lost connection is
// dialled again with a growing pause; once it listens again every wait is woken, since pushes
// in between notified nobody.
const (
	listenRetryFirst = 100 * time.Millisecond
	listenRetryMax   = 5 * time.Second
	// listenAppName tells the listening connection apart in pg_stat_activity.
	listenAppName = "qctl listen"
)

// listener is the state of the listening goroutine, owned by Queue.
type listener struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// listen starts the listener unless it runs already.
func (q *Queue) listen() {
	q.listenStart.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		q.listening = &listener{cancel: cancel, done: make(chan struct{})}
		go q.listenLoop(ctx)
	})
}

// stopListening stops the listener and waits for it; it is safe when none was started.
func (q *Queue) stopListening() {
	q.listenStart.Do(func() {}) // no listener may start after this
	if l := q.listening; l != nil {
		l.cancel()
		<-l.done
	}
}

func (q *Queue) listenLoop(ctx context.Context) {
	defer close(q.listening.done)
	pause := listenRetryFirst
	for ctx.Err() == nil {
		if q.listenSession(ctx) {
			pause = listenRetryFirst
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, listenRetryMax)
	}
}

// listenSession connects, LISTENs and hands notifications to q.wake until the connection fails or
// ctx ends. It reports whether it got as far as listening.
func (q *Queue) listenSession(ctx context.Context) bool {
	cfg, err := pgx.ParseConfig(q.dsn)
	if err != nil {
		return false
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	cfg.RuntimeParams["application_name"] = listenAppName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{q.channel}.Sanitize()); err != nil {
		return false
	}
	q.listenPID.Store(conn.PgConn().PID()) // for tests, which end the session to see it come back
	defer q.listenPID.Store(0)
	q.wake.notifyAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		if queue, available, ok := parseNotification(n.Payload); ok {
			q.wake.notify(queue, available, q.unix())
		}
	}
}

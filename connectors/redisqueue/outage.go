package redisqueue

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/redis/go-redis/v9"
)

// quietOnce silences go-redis's own logger, which prints 3 to 6 lines ("pool.go:770: ...") per
// failed call to the process's stderr; outageLog says the same once per outage instead.
var quietOnce sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// outageLog is a go-redis hook that reports, through log, the first failed dial to a server and
// the first good one after it: one line when Redis goes away and one when it is back, however
// many calls fail in between.
type outageLog struct {
	log  func(string)
	mu   sync.Mutex
	down map[string]bool // by address
}

func newOutageLog(log func(string)) *outageLog {
	quietOnce.Do(func() { redis.SetLogger(discardLogger{}) })
	return &outageLog{log: log, down: map[string]bool{}}
}

func (h *outageLog) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if h.log == nil || (err != nil && ctx.Err() != nil) { // a cancelled call is no outage
			return conn, err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		switch {
		case err != nil && !h.down[addr]:
			h.down[addr] = true
			h.log(fmt.Sprintf("redis: %s is not answering: %v", addr, err))
		case err == nil && h.down[addr]:
			delete(h.down, addr)
			h.log(fmt.Sprintf("redis: %s answers again", addr))
		}
		return conn, err
	}
}

func (h *outageLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *outageLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

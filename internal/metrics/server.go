package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/qctl/qctl/connectors"
)

// DefaultSampleEvery is how often queue depth is read when ServerOptions.SampleEvery is zero: often
// enough for a 15 s scrape interval, rare enough to be noise for the backend.
const DefaultSampleEvery = 10 * time.Second

// ServerOptions configures a Server.
type ServerOptions struct {
	// Addr is the listen address, ":9090" or "127.0.0.1:0".
	Addr string
	// Inspector reads queue depth; nil (a backend without one) leaves the depth gauges out.
	Inspector connectors.Inspector
	// Queues are the queues whose depth is sampled.
	Queues []string
	// SampleEvery is the sampling interval; DefaultSampleEvery when zero.
	SampleEvery time.Duration
}

// Server serves GET /metrics and GET /healthz and runs the depth sampler.
//
// Start binds and starts both goroutines; Stop ends them and returns once they are gone. mu
// guards every field; no I/O happens under it.
type Server struct {
	m    *Metrics
	opts ServerOptions

	mu      sync.Mutex
	started bool
	stopped bool
	srv     *http.Server
	addr    net.Addr
	cancel  context.CancelFunc // stops the sampler
	done    sync.WaitGroup     // the serve and sampler goroutines
}

// NewServer returns a server for m; it does nothing until Start.
func NewServer(m *Metrics, o ServerOptions) *Server {
	if o.SampleEvery <= 0 {
		o.SampleEvery = DefaultSampleEvery
	}
	return &Server{m: m, opts: o}
}

// Handler is the server's HTTP handler: /metrics in Prometheus's text format, /healthz answering
// 200 "ok" while the worker runs (started, not yet stopped) and 503 with its state otherwise.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		// Uncompressed (client_golang gzipped): a gzip writer holds most of a megabyte, a lot
		// for a worker to pay per scrape for a body of a few tens of kilobytes.
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.m.WritePrometheus(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.m.Running() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "worker %s\n", s.m.State())
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Start binds the address and serves in the background, and starts sampling queue depth. A bind
// failure (port taken, bad address) is returned here, before any worker runs. Start after Stop, or
// twice, is an error.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("metrics server: already started or stopped")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("metrics server: %w", err)
	}
	s.started, s.addr = true, ln.Addr()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		_ = s.srv.Serve(ln) // ErrServerClosed after Stop; any other error ends serving quietly
	}()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if s.opts.Inspector != nil && len(s.opts.Queues) > 0 {
		sm := &sampler{m: s.m, inspect: s.opts.Inspector, queues: s.opts.Queues, interval: s.opts.SampleEvery, now: time.Now}
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			sm.run(ctx)
		}()
	}
	return nil
}

// Addr is the address the server listens on (with the port the kernel chose for ":0"), or ""
// before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == nil {
		return ""
	}
	return s.addr.String()
}

// Stop stops the sampler, lets in-flight scrapes finish for up to a few seconds, closes the
// listener, and returns once every goroutine is gone. It is safe twice and before Start.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped || !s.started {
		s.stopped = true
		s.mu.Unlock()
		s.done.Wait()
		return
	}
	s.stopped = true
	srv, cancel := s.srv, s.cancel
	s.mu.Unlock()

	cancel()
	ctx, done := context.WithTimeout(context.Background(), 3*time.Second)
	defer done()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	s.done.Wait()
}

// Loopback reports whether the server listens on a loopback address only, so that nothing but
// this machine can read it. The metrics have no authentication and name every job and queue, so
// an address like ":9090" (every interface) deserves a warning.
func (s *Server) Loopback() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	tcp, ok := s.addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// Package dashboard is qctl's web dashboard: one site for every connection of a config, whatever
// its backend, built on the service layer (manager) alone. It is an http.Handler, so a Go program
// that embeds qctl mounts it beside its own routes, as `qctl dashboard` serves it:
//
//	m := manager.New(cfg, manager.Options{})
//	d := dashboard.New(m, dashboard.Options{Base: "/queues", Auth: "admin:secret"})
//	defer d.Close()
//	http.Handle("/queues/", http.StripPrefix("/queues", d))
//
// Pages are rendered on the server from html/template; the stylesheet and a small script that
// refreshes the numbers in place are embedded with go:embed, so the binary works offline and
// `go build` stays the only build step.
//
// Safe by default: every action is a POST carrying a CSRF token (an HMAC, under a key drawn at
// start, of a random session cookie), Options.ReadOnly refuses all of them, no DSN, password or
// exec handler environment value is ever rendered (errors that quote one are masked), and each
// action is logged to Options.Log with who did it and how many jobs it touched.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/manager"
)

//go:embed templates/*.html assets
var files embed.FS

// Options shape a dashboard.
type Options struct {
	// Base is the path the dashboard is mounted at ("/queues"), with the prefix stripped before
	// requests reach it (http.StripPrefix); links are written under it. "" serves it at the root.
	Base string
	// Auth is "user:password" for HTTP basic authentication; "" asks for none.
	Auth string
	// ReadOnly hides every button and refuses every POST.
	ReadOnly bool
	// Log receives one line per action: when, who, what, and how many jobs; nil discards them.
	Log io.Writer
	// Refresh is how often an open page reloads its numbers; 0 means every 5 seconds, a negative
	// value never.
	Refresh time.Duration
	// PageSize is how many failed jobs or jobs one page lists; 0 means 50.
	PageSize int
}

// Handler is the dashboard. It is safe for concurrent use; Close releases the connections it
// opened.
type Handler struct {
	m       *manager.Manager
	o       Options
	mux     *http.ServeMux
	key     []byte // CSRF HMAC key, drawn once per process
	pages   *pages
	secrets *strings.Replacer
	user    string
	pass    string
	sampler *sampler
	stop    context.CancelFunc // ends the sampler

	mu    sync.Mutex
	conns map[string]*manager.Conn // opened on first use, dropped on error
	// historyTried is, per connection, the last minute the dashboard tried to record for a
	// stalled writer (history.go).
	historyTried map[string]time.Time
	store        *failed.Store
	closed       bool
}

// New returns the dashboard over m's connections.
func New(m *manager.Manager, o Options) *Handler {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Refresh == 0 {
		o.Refresh = 5 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 50
	}
	o.Base = strings.TrimSuffix(o.Base, "/")
	h := &Handler{m: m, o: o, conns: map[string]*manager.Conn{}, key: make([]byte, 32), historyTried: map[string]time.Time{}}
	if _, err := rand.Read(h.key); err != nil {
		panic(fmt.Sprintf("dashboard: no randomness for the CSRF key: %v", err))
	}
	if o.Auth != "" {
		h.user, h.pass, _ = strings.Cut(o.Auth, ":")
	}
	var pairs []string
	for _, s := range m.Secrets() {
		pairs = append(pairs, s, "******")
	}
	h.secrets = strings.NewReplacer(pairs...)
	h.pages = parsePages()
	ctx, stop := context.WithCancel(context.Background())
	h.stop = stop
	h.sampler = &sampler{read: h.snapshots, every: max(o.Refresh, time.Second), ctx: ctx, kick: make(chan struct{}, 1)}
	h.routes()
	return h
}

func (h *Handler) routes() {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(files, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheForever(http.FileServerFS(assets))))
	mux.HandleFunc("GET /{$}", h.overview)
	mux.HandleFunc("GET /queues", h.queues)
	mux.HandleFunc("POST /queues/clear", h.action(h.clearQueue))
	mux.HandleFunc("POST /queues/pause", h.action(h.pauseQueue))
	mux.HandleFunc("POST /queues/continue", h.action(h.continueQueue))
	mux.HandleFunc("GET /failed", h.failedList)
	mux.HandleFunc("GET /failed/{id}", h.failedDetail)
	mux.HandleFunc("POST /failed/retry", h.action(h.retryFailed))
	mux.HandleFunc("POST /failed/forget", h.action(h.forgetFailed))
	mux.HandleFunc("POST /failed/flush", h.action(h.flushFailed))
	mux.HandleFunc("GET /jobs", h.jobList)
	mux.HandleFunc("POST /jobs/delete", h.action(h.deleteJob))
	mux.HandleFunc("POST /jobs/run-now", h.action(h.runJobNow))
	mux.HandleFunc("GET /workers", h.workers)
	mux.HandleFunc("POST /workers/terminate", h.action(h.terminateWorker))
	mux.HandleFunc("POST /workers/pause", h.action(h.pauseWorker))
	mux.HandleFunc("POST /workers/continue", h.action(h.continueWorker))
	h.mux = mux
}

// ServeHTTP checks basic authentication, when configured, and serves the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.Auth != "" {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(h.user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(h.pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="qctl dashboard", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	h.mux.ServeHTTP(w, r)
}

// Close closes the connections and the failed store the dashboard opened. It is safe to call
// twice; a request served after it opens nothing more.
func (h *Handler) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.stop()
	for name, c := range h.conns {
		c.Close()
		delete(h.conns, name)
	}
	if h.store != nil {
		err := h.store.Close()
		h.store = nil
		return err
	}
	return nil
}

// conn returns the open connection name, opening it on first use.
func (h *Handler) conn(ctx context.Context, name string) (*manager.Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	if c, ok := h.conns[name]; ok {
		return c, nil
	}
	c, err := h.m.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	h.conns[name] = c
	return c, nil
}

// failedStore returns the failed-job store, opening it on first use.
func (h *Handler) failedStore(ctx context.Context) (*failed.Store, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	if h.store != nil {
		return h.store, nil
	}
	s, err := h.m.OpenFailed(ctx)
	if err != nil {
		return nil, err
	}
	h.store = s
	return s, nil
}

var errClosed = fmt.Errorf("the dashboard is closed")

// redact is err's text with every config secret masked: drivers' errors may quote a DSN.
func (h *Handler) redact(err error) string {
	if err == nil {
		return ""
	}
	return h.secrets.Replace(err.Error())
}

// cacheForever marks the embedded assets cacheable: they change only with the binary, and their
// URLs carry its build (see assetVersion).
func cacheForever(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		next.ServeHTTP(w, r)
	})
}

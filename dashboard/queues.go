package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/manager"
)

// connView is one connection as the Overview and Queues pages show it.
type connView struct {
	Name, Driver string
	KeepsJobs    bool
	Error        string // why its queues could not be read, redacted
	Queues       []queueView
	Ready        int64
	Delayed      int64
	Reserved     int64
	Failed       int64
	CanPause     bool
	CanBrowse    bool
	History      historyView // the Overview's charts
}

// queueView is one queue's row.
type queueView struct {
	manager.QueueStatus
	Paused      bool
	PausedKnown bool
}

// overviewData is the Overview page.
type overviewData struct {
	sample
	Ready, Delayed, Reserved, Failed int64
	Connections, Queues, Unreachable int
}

// snapshots reads every connection's queues at once, one goroutine per connection, so a slow or
// unreachable backend costs the page its own time and not the sum. Counts come from the
// backends' statistics (manager.Conn.Snapshot), never from reading the jobs.
func (h *Handler) snapshots(ctx context.Context) ([]connView, string) {
	var note string
	store, err := h.failedStore(ctx)
	if err != nil {
		store, note = nil, "failed counts unavailable: "+h.redact(err)
	}
	names := h.m.Config().Names()
	views := make([]connView, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i] = h.snapshot(ctx, name, store)
		}()
	}
	wg.Wait()
	return views, note
}

func (h *Handler) snapshot(ctx context.Context, name string, store *failed.Store) connView {
	v := connView{Name: name}
	if cc, err := h.m.Connection(name); err == nil {
		v.Driver = cc.Driver
	}
	c, err := h.conn(ctx, name)
	if err != nil {
		v.Error = h.redact(err)
		return v
	}
	v.KeepsJobs = c.KeepsJobs()
	if !v.KeepsJobs {
		return v
	}
	snap, err := c.Snapshot(ctx, store, nil)
	if err != nil {
		v.Error = h.redact(err)
		return v
	}
	// Snapshot read the fleet store's pause flags along with the counts; a connection whose
	// store cannot be read (sync, null, or not migrated) gets no pause buttons.
	_, fleetErr := c.Fleet(ctx)
	v.CanPause = fleetErr == nil
	v.CanBrowse = c.CanBrowse()
	v.History = h.history(ctx, c)
	for _, q := range snap.Queues {
		qv := queueView{QueueStatus: q}
		qv.Paused, qv.PausedKnown = q.Paused, q.Workers != nil
		v.Queues = append(v.Queues, qv)
		v.Ready += q.Ready
		v.Delayed += q.Delayed
		v.Reserved += q.Reserved
		if q.Failed != nil {
			v.Failed += *q.Failed
		}
	}
	return v
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	d := overviewData{sample: h.sampler.get(r.Context())}
	d.Connections = len(d.Conns)
	for _, c := range d.Conns {
		d.Ready += c.Ready
		d.Delayed += c.Delayed
		d.Reserved += c.Reserved
		d.Queues += len(c.Queues)
		if c.Error != "" {
			d.Unreachable++
		}
	}
	// The failed total is the store's, not the sum of per-queue counts: a queue no connection
	// lists any more still has its failed jobs.
	if store, err := h.failedStore(r.Context()); err == nil {
		d.Failed, _ = store.Count(r.Context(), failed.Filter{})
	}
	h.render(w, r, "overview", "Overview", d, nil)
}

func (h *Handler) queues(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, "queues", "Queues", h.sampler.get(r.Context()), nil)
}

// clearQueue deletes every job of a queue, once its name has been typed to confirm.
func (h *Handler) clearQueue(r *http.Request) (outcome, error) {
	name, queue := r.PostFormValue("connection"), r.PostFormValue("queue")
	res := outcome{what: fmt.Sprintf("clear queue %s/%s", name, queue), back: "/queues"}
	if queue == "" || strings.TrimSpace(r.PostFormValue("confirm")) != queue {
		return res, errors.New("not cleared: type the queue's name to confirm")
	}
	c, err := h.conn(r.Context(), name)
	if err != nil {
		return res, err
	}
	res.jobs, err = c.Clear(r.Context(), queue)
	return res, err
}

func (h *Handler) pauseQueue(r *http.Request) (outcome, error) {
	return h.pauseOrContinue(r, "pause", func(ctx context.Context, c *manager.Conn, queue string) error {
		return c.Pause(ctx, []string{queue}, 0)
	})
}

func (h *Handler) continueQueue(r *http.Request) (outcome, error) {
	return h.pauseOrContinue(r, "continue", func(ctx context.Context, c *manager.Conn, queue string) error {
		return c.Continue(ctx, []string{queue})
	})
}

func (h *Handler) pauseOrContinue(r *http.Request, verb string, do func(context.Context, *manager.Conn, string) error) (outcome, error) {
	name, queue := r.PostFormValue("connection"), r.PostFormValue("queue")
	res := outcome{what: fmt.Sprintf("%s queue %s/%s", verb, name, queue), back: "/queues"}
	c, err := h.conn(r.Context(), name)
	if err != nil {
		return res, err
	}
	return res, do(r.Context(), c, queue)
}

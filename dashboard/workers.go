package dashboard

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

// workersConn is one connection's live workers on the Workers page.
type workersConn struct {
	Name    string
	Error   string
	Workers []worker.Info
}

// workers lists every connection's live workers from the fleet registry: where each runs, its
// queues and state, the jobs it runs now, its counts and memory.
func (h *Handler) workers(w http.ResponseWriter, r *http.Request) {
	var conns []workersConn
	for _, name := range h.m.Config().Names() {
		v := workersConn{Name: name}
		c, err := h.conn(r.Context(), name)
		if err == nil && !c.KeepsJobs() {
			continue // sync and null run no workers
		}
		if err == nil {
			v.Workers, err = c.Workers(r.Context())
		}
		if err != nil {
			v.Error = h.redact(err)
		}
		sort.Slice(v.Workers, func(i, j int) bool {
			a, b := v.Workers[i], v.Workers[j]
			return a.Host < b.Host || a.Host == b.Host && a.StartedAt.Before(b.StartedAt)
		})
		conns = append(conns, v)
	}
	h.render(w, r, "workers", "Workers", conns, nil)
}

// terminateWorker asks one worker to stop after its running jobs, through the backend, so it
// works whatever machine the worker runs on.
func (h *Handler) terminateWorker(r *http.Request) (outcome, error) {
	name, id := r.PostFormValue("connection"), r.PostFormValue("worker")
	res := outcome{what: fmt.Sprintf("terminate worker %s on %s", id, name), back: "/workers"}
	c, err := h.conn(r.Context(), name)
	if err != nil {
		return res, err
	}
	stopped, err := c.Terminate(r.Context(), manager.Selector{Worker: id})
	if err == nil && len(stopped) == 0 {
		err = fmt.Errorf("no live worker %q on connection %q", id, name)
	}
	return res, err
}

// queueList prints a worker's queues, marking the paused ones.
func queueList(info worker.Info) string {
	parts := make([]string, len(info.Queues))
	for i, q := range info.Queues {
		parts[i] = q
		for _, p := range info.PausedQueues {
			if p == q {
				parts[i] += " (paused)"
			}
		}
	}
	return strings.Join(parts, ", ")
}

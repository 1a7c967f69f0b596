package dashboard

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

// workersConn is one connection's live workers on the Workers page, grouped by master and
// supervisor (standalone workers last).
type workersConn struct {
	Name    string
	Error   string
	Workers []worker.Info
	Groups  []manager.WorkerGroup
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
		v.Groups = manager.Group(v.Workers)
		conns = append(conns, v)
	}
	h.render(w, r, "workers", "Workers", conns, nil)
}

// pauseWorker pauses one worker, listener or master (its children) as a whole, whatever its
// queues, through the backend: running jobs finish, nothing more is popped until continued.
func (h *Handler) pauseWorker(r *http.Request) (outcome, error) {
	return h.holdWorker(r, "pause", func(c *manager.Conn, sel manager.Selector) ([]worker.Info, error) {
		return c.PauseWorkers(r.Context(), sel, 0)
	})
}

// continueWorker undoes pauseWorker.
func (h *Handler) continueWorker(r *http.Request) (outcome, error) {
	return h.holdWorker(r, "continue", func(c *manager.Conn, sel manager.Selector) ([]worker.Info, error) {
		return c.ContinueWorkers(r.Context(), sel)
	})
}

func (h *Handler) holdWorker(r *http.Request, what string, do func(*manager.Conn, manager.Selector) ([]worker.Info, error)) (outcome, error) {
	name, id := r.PostFormValue("connection"), r.PostFormValue("worker")
	res := outcome{what: fmt.Sprintf("%s worker %s on %s", what, id, name), back: "/workers"}
	if id == "" {
		return res, fmt.Errorf("no worker given")
	}
	c, err := h.conn(r.Context(), name)
	if err != nil {
		return res, err
	}
	_, err = do(c, manager.Selector{Worker: id})
	return res, err
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

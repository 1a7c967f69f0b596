package dashboard

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// decodedPayload is a payload as a person reads it: its job's name and its data, or a Laravel
// object job's properties decoded from PHP's serialize().
type decodedPayload struct {
	Name     string
	Class    string // an object job's class
	Data     string // indented JSON: the data, or the object job's properties
	Problem  string // why the data could not be decoded
	Envelope string // the whole payload, indented
}

func decodePayload(raw []byte) decodedPayload {
	d := decodedPayload{Envelope: prettyJSON(raw)}
	p, err := jobs.Decode(raw)
	if err != nil {
		d.Problem = err.Error()
		return d
	}
	d.Name = p.ResolveName()
	if p.IsObjectJob() {
		class, props, err := p.Command()
		d.Class = class
		if err != nil {
			d.Problem = err.Error()
			return d
		}
		d.Data = prettyJSON(props)
		return d
	}
	d.Data = prettyJSON(p.Data)
	return d
}

// jobRow is one job in the Jobs page's list.
type jobRow struct {
	connectors.BrowsedJob
	Decoded decodedPayload
}

type jobsData struct {
	Conns        []string // connections whose backend can list jobs
	Connection   string
	Queue        string
	State        connectors.JobState
	States       []connectors.JobState
	Cursor, Next string
	Rows         []jobRow
	Count        int64 // jobs in this state, from the queue's statistics
	CanBrowse    bool
	NextOnly     bool // the backend shows only the next job of each state (beanstalkd)
	Deletable    bool
	Runnable     bool
}

// jobList shows one page of a queue's jobs in one state, each payload decoded. The page reads
// only its own jobs (connectors.Browser), and the count beside the tabs comes from the queue's
// statistics.
func (h *Handler) jobList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := jobsData{Connection: q.Get("connection"), Queue: q.Get("queue"), State: connectors.JobState(q.Get("state")),
		Cursor: q.Get("cursor"), States: []connectors.JobState{connectors.StateReady, connectors.StateDelayed, connectors.StateReserved}}
	if d.State != connectors.StateDelayed && d.State != connectors.StateReserved {
		d.State = connectors.StateReady
	}
	d.Deletable = d.State != connectors.StateReserved
	d.Runnable = d.State == connectors.StateDelayed
	for _, name := range h.m.Config().Names() {
		if cc, err := h.m.Connection(name); err == nil && (cc.Driver == "sync" || cc.Driver == "null") {
			continue
		}
		d.Conns = append(d.Conns, name)
	}
	if d.Connection == "" {
		if def, err := h.m.Connection(""); err == nil && contains(d.Conns, def.Name) {
			d.Connection = def.Name
		} else if len(d.Conns) > 0 {
			d.Connection = d.Conns[0]
		}
	}
	err := h.readJobs(r, &d)
	h.render(w, r, "jobs", "Jobs", d, err)
}

func (h *Handler) readJobs(r *http.Request, d *jobsData) error {
	if d.Connection == "" {
		return nil
	}
	c, err := h.conn(r.Context(), d.Connection)
	if err != nil {
		return err
	}
	if d.Queue == "" {
		d.Queue = c.Queue
	}
	d.CanBrowse = c.CanBrowse()
	if !d.CanBrowse {
		return nil
	}
	if d.NextOnly = c.BrowsesNextOnly(); d.NextOnly {
		// beanstalkd peeks at the next ready and delayed job; nothing lists reserved ones.
		d.States = d.States[:2]
		if d.State == connectors.StateReserved {
			d.State = connectors.StateReady
		}
	}
	// The count comes from the last sample the Overview and Queues pages keep (counting a big
	// queue takes seconds on some backends); before the first it is not shown.
	d.Count = -1
	for _, cv := range h.sampler.peek().Conns {
		for _, st := range cv.Queues {
			if cv.Name == d.Connection && st.Queue == d.Queue {
				d.Count = map[connectors.JobState]int64{connectors.StateReady: st.Ready, connectors.StateDelayed: st.Delayed, connectors.StateReserved: st.Reserved}[d.State]
			}
		}
	}
	list, next, err := c.Browse(r.Context(), d.Queue, d.State, d.Cursor, h.o.PageSize)
	if err != nil {
		return err
	}
	d.Next = next
	for _, j := range list {
		d.Rows = append(d.Rows, jobRow{BrowsedJob: j, Decoded: decodePayload(j.Payload)})
	}
	return nil
}

// jobTarget reads an action's connection, queue, state and job ref.
func jobTarget(r *http.Request) (name, queue string, state connectors.JobState, ref, back string) {
	name, queue, ref = r.PostFormValue("connection"), r.PostFormValue("queue"), r.PostFormValue("ref")
	state = connectors.JobState(r.PostFormValue("state"))
	back = "/jobs" + string(query("connection", name, "queue", queue, "state", string(state)))
	return
}

func (h *Handler) deleteJob(r *http.Request) (outcome, error) {
	name, queue, state, ref, back := jobTarget(r)
	res := outcome{what: fmt.Sprintf("delete %s job %s of %s/%s", state, r.PostFormValue("id"), name, queue), back: back}
	c, err := h.conn(r.Context(), name)
	if err != nil {
		return res, err
	}
	if err := c.DeleteJob(r.Context(), queue, state, ref); err != nil {
		return res, err
	}
	res.jobs = 1
	return res, nil
}

func (h *Handler) runJobNow(r *http.Request) (outcome, error) {
	name, queue, _, ref, back := jobTarget(r)
	res := outcome{what: fmt.Sprintf("run delayed job %s of %s/%s now", r.PostFormValue("id"), name, queue), back: back}
	c, err := h.conn(r.Context(), name)
	if err != nil {
		return res, err
	}
	if err := c.ReadyNow(r.Context(), queue, ref); err != nil {
		if errors.Is(err, connectors.ErrJobNotFound) {
			err = fmt.Errorf("%w (it may have become due and run already)", err)
		}
		return res, err
	}
	res.jobs = 1
	return res, nil
}

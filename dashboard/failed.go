package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/manager"
)

// failedFilter is the Failed page's filter as its form and links carry it.
type failedFilter struct {
	Queue, Job, Exception string
	From, To              string // dates, 2006-01-02, in the config's timezone; To is inclusive
}

func readFailedFilter(v url.Values) failedFilter {
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return failedFilter{Queue: get("queue"), Job: get("job"), Exception: get("exception"), From: get("from"), To: get("to")}
}

// filter turns the form into a failed.Filter; a date that does not parse is an error.
func (f failedFilter) filter(loc *time.Location) (failed.Filter, error) {
	out := failed.Filter{Queue: f.Queue, Job: f.Job, Exception: f.Exception}
	if loc == nil {
		loc = time.UTC
	}
	for _, d := range []struct {
		text string
		into *time.Time
		plus int
	}{{f.From, &out.Since, 0}, {f.To, &out.Before, 1}} {
		if d.text == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, d.text, loc)
		if err != nil {
			return out, fmt.Errorf("date %q: want YYYY-MM-DD", d.text)
		}
		*d.into = t.AddDate(0, 0, d.plus)
	}
	return out, nil
}

// query is the filter as query-string pairs, for links that keep it.
func (f failedFilter) Pairs() []string {
	return []string{"queue", f.Queue, "job", f.Job, "exception", f.Exception, "from", f.From, "to", f.To}
}

// Active reports whether any field narrows the list.
func (f failedFilter) Active() bool { return f != failedFilter{} }

// failedRow is one failed job in the list.
type failedRow struct {
	failed.Record
	Name string
}

type failedData struct {
	Filter    failedFilter
	FilterQS  string // the filter as a query string, for paging links
	Rows      []failedRow
	Total     int64 // every failed job; -1 when filtered (matches are not counted)
	Below     int64 // this page's cursor (0 = first page)
	Next      int64 // the next page's cursor, 0 when this is the last
	PageSize  int
	Queues    []string
	Timezone  string
	Discarded bool
}

// failedList shows one page of failed jobs, newest first: a LIMITed SELECT whatever the table's
// size, paged by row id (failed.Filter.Below) rather than by offset, and the table's COUNT when
// no filter is set.
func (h *Handler) failedList(w http.ResponseWriter, r *http.Request) {
	ff := readFailedFilter(r.URL.Query())
	d := failedData{Filter: ff, PageSize: h.o.PageSize, Timezone: h.location().String()}
	var pairs []string
	for i, kv := 0, ff.Pairs(); i < len(kv); i += 2 {
		if kv[i+1] != "" {
			pairs = append(pairs, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
		}
	}
	d.FilterQS = strings.Join(pairs, "&")
	err := h.readFailed(r, ff, &d)
	if errors.Is(err, manager.ErrFailedDisabled) {
		d.Discarded, err = true, nil
	}
	h.render(w, r, "failed", "Failed jobs", d, err)
}

func (h *Handler) readFailed(r *http.Request, ff failedFilter, d *failedData) error {
	store, err := h.failedStore(r.Context())
	if err != nil {
		return err
	}
	f, err := ff.filter(h.location())
	if err != nil {
		return err
	}
	d.Below, _ = strconv.ParseInt(r.URL.Query().Get("below"), 10, 64)
	f.Below = d.Below
	var recs []failed.Record
	if ff.Active() {
		// A filter counts nothing: counting the matches of a text filter reads every row, and
		// a page of them, newest first, stops when the page and one more row are found.
		d.Total = -1
		f.Limit = h.o.PageSize + 1
		if recs, err = store.Head(r.Context(), f); err != nil {
			return err
		}
		if len(recs) > h.o.PageSize {
			recs = recs[:h.o.PageSize]
			d.Next = recs[len(recs)-1].RowID
		}
	} else {
		// The whole table's count is one read of its smallest index.
		if d.Total, err = store.Count(r.Context(), failed.Filter{}); err != nil {
			return err
		}
		f.Limit = h.o.PageSize
		if recs, err = store.Head(r.Context(), f); err != nil {
			return err
		}
		if len(recs) == h.o.PageSize {
			d.Next = recs[len(recs)-1].RowID
		}
	}
	for _, rec := range recs {
		d.Rows = append(d.Rows, failedRow{Record: rec, Name: jobName(rec.Payload)})
	}
	for _, c := range h.m.Config().Names() {
		if cc, err := h.m.Connection(c); err == nil && cc.Queue != "" && !contains(d.Queues, cc.Queue) {
			d.Queues = append(d.Queues, cc.Queue)
		}
	}
	return nil
}

// jobName is the name a payload's job goes by, "?" when it cannot be read.
func jobName(payload []byte) string {
	p, err := jobs.Decode(payload)
	if err != nil {
		return "?"
	}
	return p.ResolveName()
}

// failedDetailData is one failed job: its exception with the stack, and its payload decoded.
type failedDetailData struct {
	Record  *failed.Record
	Decoded decodedPayload
}

func (h *Handler) failedDetail(w http.ResponseWriter, r *http.Request) {
	var d failedDetailData
	store, err := h.failedStore(r.Context())
	if err == nil {
		d.Record, err = store.Find(r.Context(), r.PathValue("id"))
	}
	if d.Record != nil {
		d.Decoded = decodePayload(d.Record.Payload)
	}
	if errors.Is(err, failed.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound)
	}
	h.render(w, r, "failed_detail", "Failed job", d, err)
}

// selection reads which failed jobs an action is for: one (a row's own button), the ticked
// ones, or, with all=1, every job the filter carried in the form matches.
func (h *Handler) selection(r *http.Request) (manager.RetrySelection, string, error) {
	if one := r.PostFormValue("one"); one != "" {
		return manager.RetrySelection{IDs: []string{one}}, "failed job " + one, nil
	}
	if r.PostFormValue("all") == "1" {
		ff := readFailedFilter(r.PostForm)
		f, err := ff.filter(h.location())
		desc := "all failed jobs"
		if ff.Active() {
			desc += " matching " + describe(ff)
		}
		return manager.RetrySelection{All: true, Filter: f}, desc, err
	}
	ids := r.PostForm["ids"]
	if len(ids) == 0 {
		return manager.RetrySelection{}, "selected failed jobs", errors.New("no job selected")
	}
	return manager.RetrySelection{IDs: ids}, fmt.Sprintf("%d selected failed jobs", len(ids)), nil
}

// describe writes a filter for the log: queue=emails job=SendEmail.
func describe(ff failedFilter) string {
	var parts []string
	kv := ff.Pairs()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] != "" {
			parts = append(parts, kv[i]+"="+strconv.Quote(kv[i+1]))
		}
	}
	return strings.Join(parts, " ")
}

// back is where a failed-job action returns: the list with its filter.
func failedBack(r *http.Request) string {
	if b := r.PostFormValue("back"); strings.HasPrefix(b, "/failed") && !strings.HasPrefix(b, "//") {
		return b
	}
	return "/failed"
}

func (h *Handler) retryFailed(r *http.Request) (outcome, error) {
	sel, desc, err := h.selection(r)
	res := outcome{what: "retry " + desc, back: failedBack(r)}
	if err != nil {
		return res, err
	}
	store, err := h.failedStore(r.Context())
	if err != nil {
		return res, err
	}
	var refusals []string
	got, err := h.m.Retry(r.Context(), store, sel, manager.RetryProgress{
		Batch: func(_ []failed.Record, refused []manager.Refusal) {
			for _, ref := range refused {
				if len(refusals) < 3 {
					refusals = append(refusals, ref.Record.ID+": "+ref.Err.Error())
				}
			}
		},
	})
	res.jobs = int64(got.Retried)
	if err == nil && got.NotRetried > 0 {
		err = fmt.Errorf("%d retried, %d could not be pushed back and stay listed (%s)", got.Retried, got.NotRetried, strings.Join(refusals, "; "))
	}
	if err == nil && got.NotFound > 0 && got.Retried == 0 {
		err = fmt.Errorf("%w: nothing retried", failed.ErrNotFound)
	}
	return res, err
}

func (h *Handler) forgetFailed(r *http.Request) (outcome, error) {
	sel, desc, err := h.selection(r)
	res := outcome{what: "forget " + desc, back: failedBack(r)}
	if err != nil {
		return res, err
	}
	store, err := h.failedStore(r.Context())
	if err != nil {
		return res, err
	}
	res.jobs, err = h.m.Forget(r.Context(), store, sel)
	return res, err
}

// flushFailed deletes failed jobs older than the hours given (0 or empty: every one).
func (h *Handler) flushFailed(r *http.Request) (outcome, error) {
	text := strings.TrimSpace(r.PostFormValue("hours"))
	res := outcome{what: "flush all failed jobs", back: "/failed"}
	var hours float64
	if text != "" {
		var err error
		if hours, err = strconv.ParseFloat(text, 64); err != nil || hours < 0 {
			return res, fmt.Errorf("hours %q: want a number of hours, 0 or more", text)
		}
		if hours > 0 {
			res.what = fmt.Sprintf("flush failed jobs older than %s hours", text)
		}
	}
	store, err := h.failedStore(r.Context())
	if err != nil {
		return res, err
	}
	res.jobs, err = store.Flush(r.Context(), time.Duration(hours*float64(time.Hour)))
	return res, err
}

// location is the zone failed-job dates are typed and shown in: the config's timezone.
func (h *Handler) location() *time.Location {
	if loc := h.m.Config().Timezone; loc != nil {
		return loc
	}
	return time.UTC
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

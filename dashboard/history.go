package dashboard

import (
	"context"
	"encoding/json"
	"time"

	"github.com/qctl/qctl/manager"
)

// This file is the Overview's charts: the last hour of a connection's per-minute history
// (manager/history.go), read with one round trip to its state store per sample, and drawn in the
// browser by the vendored uPlot (assets/uplot, see assets/charts.js).

// chartSpan is how much history the Overview charts.
const chartSpan = time.Hour

// chartView is one queue's charts: the series as uPlot takes them, and the hour's totals.
type chartView struct {
	Queue     string
	Series    string // JSON: {"t":[unix s],"processed":[],"failed":[],"p50":[],"p99":[]}; null = not recorded
	Processed int64
	Failed    int64
	P99Ms     float64 // the hour's worst minute
}

// historyView is a connection's charts, or why there are none.
type historyView struct {
	Charts []chartView
	Note   string // why no chart is shown, or "" when they are
}

// series is a chart's data; a nil element is a minute with nothing known (uPlot leaves a gap).
type series struct {
	T         []int64    `json:"t"`
	Processed []*int64   `json:"processed"`
	Failed    []*int64   `json:"failed"`
	P50       []*float64 `json:"p50"`
	P99       []*float64 `json:"p99"`
}

// history reads c's last hour and, when the last completed minute has no record half a minute
// after it ended (no worker wrote it: its writer stalled), records it from the workers' entries.
func (h *Handler) history(ctx context.Context, c *manager.Conn) historyView {
	if !c.HistoryOn() {
		return historyView{Note: "History is off (history_retention = 0)."}
	}
	if _, err := c.Fleet(ctx); err != nil {
		return historyView{Note: "No history: " + h.redact(err)}
	}
	now := time.Now()
	minutes, err := c.History(ctx, now.Add(-chartSpan), now)
	if err != nil {
		return historyView{Note: "History unavailable: " + h.redact(err)}
	}
	h.recordUnwritten(ctx, c, minutes, now)
	var v historyView
	for _, q := range manager.HistoryQueues(minutes) {
		cv := chartView{Queue: q}
		var s series
		for _, m := range minutes {
			s.T = append(s.T, m.At.Unix())
			if !m.Recorded {
				s.Processed, s.Failed = append(s.Processed, nil), append(s.Failed, nil)
				s.P50, s.P99 = append(s.P50, nil), append(s.P99, nil)
				continue
			}
			qm := m.Queues[q]
			s.Processed, s.Failed = append(s.Processed, &qm.Processed), append(s.Failed, &qm.Failed)
			cv.Processed += qm.Processed
			cv.Failed += qm.Failed
			if qm.Waits == 0 {
				s.P50, s.P99 = append(s.P50, nil), append(s.P99, nil)
				continue
			}
			s.P50, s.P99 = append(s.P50, &qm.WaitP50Ms), append(s.P99, &qm.WaitP99Ms)
			cv.P99Ms = max(cv.P99Ms, qm.WaitP99Ms)
		}
		b, _ := json.Marshal(s)
		cv.Series = string(b)
		v.Charts = append(v.Charts, cv)
	}
	if len(v.Charts) == 0 {
		v.Note = "No jobs ran in the last hour while a worker was watching (workers record each minute's jobs in the connection's store)."
	}
	return v
}

// recordUnwritten records the minutes workers still publish (the last two completed) that have
// no record half a minute after they ended, each tried once: their writer stalled or stopped.
func (h *Handler) recordUnwritten(ctx context.Context, c *manager.Conn, minutes []manager.HistoryMinute, now time.Time) {
	step := c.HistoryStep()
	h.mu.Lock()
	tried := h.historyTried[c.Name]
	h.mu.Unlock()
	for i := max(len(minutes)-2, 0); i < len(minutes); i++ {
		m := &minutes[i]
		if m.Recorded || !m.At.After(tried) || now.Sub(m.At.Add(step)) < step/2 {
			continue
		}
		wrote, err := c.RecordHistory(ctx, m.At, "")
		if err != nil {
			continue // tried again at the next sample
		}
		tried = m.At
		if !wrote {
			continue
		}
		if again, err := c.History(ctx, m.At, m.At.Add(step)); err == nil && len(again) == 1 {
			*m = again[0]
		}
	}
	h.mu.Lock()
	h.historyTried[c.Name] = tried
	h.mu.Unlock()
}

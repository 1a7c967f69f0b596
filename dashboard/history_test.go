package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/dashboard"
	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

// demoHistory stores an hour of plausible per-minute history for the database connection's
// queues, as its workers would have, and returns each queue's processed and failed totals.
func demoHistory(t *testing.T, b *bundle) map[string][2]int64 {
	t.Helper()
	ctx := context.Background()
	c := b.conn("database")
	totals := map[string][2]int64{}
	now := time.Now().Truncate(time.Minute)
	for i := 60; i >= 1; i-- {
		at := now.Add(-time.Duration(i) * time.Minute)
		wave := math.Sin(float64(i) / 7)
		rec := manager.HistoryMinute{At: at, Workers: 3, Queues: map[string]manager.QueueMinute{
			"default": {Processed: int64(420 + 160*wave), Failed: int64(i % 9 / 8), Waits: 400, Runs: 400,
				WaitP50Ms: 40 + 15*wave, WaitP99Ms: 180 + 90*wave + float64(i%13)*12, RuntimeAvgMs: 12},
			"emails": {Processed: int64(60 + 25*math.Cos(float64(i)/5)), Failed: int64(i%17/15) * 2, Waits: 60, Runs: 62,
				WaitP50Ms: 900 + 300*wave, WaitP99Ms: 4200 + 1500*wave, RuntimeAvgMs: 310},
		}}
		if i%20 < 3 {
			rec.Queues["reports"] = manager.QueueMinute{Processed: 2, Failed: int64(i % 2), Waits: 3, Runs: 3,
				WaitP50Ms: 1500, WaitP99Ms: 2900, RuntimeAvgMs: 48000}
		}
		for q, qm := range rec.Queues {
			tot := totals[q]
			totals[q] = [2]int64{tot[0] + qm.Processed, tot[1] + qm.Failed}
		}
		if err := c.PutHistory(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	return totals
}

// TestHistorySurvivesDashboardRestart: the Overview's charts come from the records in the
// connection's store, so a new dashboard, on a new manager, shows the same hour as the old one.
func TestHistorySurvivesDashboardRestart(t *testing.T) {
	b := setup(t, setupOptions{})
	totals := demoHistory(t, b)
	wants := []string{`class="plot" data-kind="jobs"`, `class="plot" data-kind="wait"`}
	for q, tot := range totals {
		wants = append(wants, fmt.Sprintf("<b>%s</b> · jobs per minute, last hour <span class=\"legend\"><i class=\"sw processed\"></i>processed %d <i class=\"sw failed\"></i>failed %d", q, tot[0], tot[1]))
	}
	_, body := b.get("/")
	mustContain(t, "the overview", body, wants...)
	if strings.Contains(body, "not recorded yet") {
		t.Error("the overview still says history is not recorded")
	}

	b.d.Close()
	b.srv.Close()
	d := dashboard.New(manager.New(b.m.Config(), manager.Options{Output: io.Discard}), dashboard.Options{Refresh: -1})
	srv := httptest.NewServer(d)
	t.Cleanup(func() { srv.Close(); d.Close() })
	b.srv = srv
	_, body = b.get("/")
	mustContain(t, "the overview of a new dashboard", body, wants...)
}

// TestDashboardRecordsAnUnwrittenMinute: when no worker wrote the last completed minute (its
// writer stalled), the dashboard sums the live workers' entries and records it itself.
func TestDashboardRecordsAnUnwrittenMinute(t *testing.T) {
	b := setup(t, setupOptions{})
	ctx := context.Background()
	const step = time.Second
	m := manager.New(b.m.Config(), manager.Options{Output: io.Discard, HistoryMinute: step})
	c, err := m.Open(ctx, "database")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	store, err := c.Fleet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(step)
	entry, _ := json.Marshal(worker.Info{ID: "w1", Connection: "database", Queues: []string{"emails"}, History: []worker.MinuteStats{
		{At: at, Queue: "emails", Processed: 41, Failed: 1, Runs: 42, Wait: worker.Histogram{worker.WaitBucket(time.Second): 42}},
	}})
	if err := store.PutWorker(ctx, "w1", entry, time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(at.Add(step + step/2))) // the minute is over, and half a minute more
	d := dashboard.New(m, dashboard.Options{Refresh: -1})
	srv := httptest.NewServer(d)
	t.Cleanup(func() { srv.Close(); d.Close() })
	b.srv = srv
	_, body := b.get("/")
	mustContain(t, "the overview", body, "<b>emails</b> · jobs per minute, last hour <span class=\"legend\"><i class=\"sw processed\"></i>processed 41 <i class=\"sw failed\"></i>failed 1")
	minutes, err := c.History(ctx, at, at.Add(step))
	if err != nil || len(minutes) != 1 || !minutes[0].Recorded || minutes[0].Queues["emails"].Processed != 41 {
		t.Fatalf("the store holds %+v (%v), want the dashboard's record of 41 processed", minutes, err)
	}
}

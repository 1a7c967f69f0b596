package worker

import (
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

// TestRunningSet: every job added is listed with its start until removed, also past the slots
// (the overflow map) and with many goroutines adding and removing at once.
func TestRunningSet(t *testing.T) {
	s := newRunningSet(4)
	t0 := time.Unix(1_800_000_000, 0)
	jobs := make([]*connectors.Reserved, 10)
	for i := range jobs {
		jobs[i] = &connectors.Reserved{ID: string(rune('a' + i))}
		s.add(jobs[i], t0.Add(time.Duration(i)*time.Second))
	}
	listed := func() map[string]time.Time {
		got := map[string]time.Time{}
		s.each(func(r *connectors.Reserved, at time.Time) { got[r.ID] = at })
		return got
	}
	got := listed()
	if len(got) != 10 {
		t.Fatalf("listed %d of 10 jobs: %v", len(got), got)
	}
	for i, r := range jobs {
		if !got[r.ID].Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Errorf("job %s started %v, listed %v", r.ID, t0.Add(time.Duration(i)*time.Second), got[r.ID])
		}
	}
	for _, r := range jobs[:7] {
		s.remove(r)
	}
	s.remove(&connectors.Reserved{ID: "never added"})
	if got := listed(); len(got) != 3 || got["h"].IsZero() || got["i"].IsZero() || got["j"].IsZero() {
		t.Fatalf("after removing a to g, listed %v; want h, i and j", got)
	}

	s = newRunningSet(50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				r := &connectors.Reserved{}
				s.add(r, time.Now())
				s.remove(r)
			}
		}()
	}
	wg.Wait()
	if got := listed(); len(got) != 0 {
		t.Errorf("after every job ended, %d still listed", len(got))
	}
}

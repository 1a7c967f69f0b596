package jobs

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// A backend that counts attempts on demand is asked once, on the first call, however many
// goroutines of the handler ask; a failed count is retried on the next call.
func TestAttemptsAreCountedOnceOnDemand(t *testing.T) {
	var asked atomic.Int32
	fail := true
	j := &Job{}
	j.SetAttempts(0, func() (int, error) {
		asked.Add(1)
		if fail {
			return 0, errors.New("server gone")
		}
		return 3, nil
	})
	if asked.Load() != 0 {
		t.Fatal("SetAttempts counted at once; it must wait for the first Attempts call")
	}
	if n := j.Attempts(); n != 0 || asked.Load() != 1 {
		t.Fatalf("Attempts with a failing count = %d after %d asks, want 0 after 1", n, asked.Load())
	}
	fail = false
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if n := j.Attempts(); n != 3 {
				t.Errorf("Attempts = %d, want 3", n)
			}
		})
	}
	wg.Wait()
	if asked.Load() != 2 {
		t.Fatalf("the backend was asked %d times, want 2 (one failure, then once for all callers)", asked.Load())
	}

	known := &Job{}
	known.SetAttempts(2, func() (int, error) { t.Fatal("counted a known attempt number"); return 0, nil })
	if n := known.Attempts(); n != 2 {
		t.Fatalf("Attempts = %d, want the known 2", n)
	}
}

package listener_test

import (
	"testing"

	"github.com/qctl/qctl/listener"
	"github.com/qctl/qctl/worker"
)

// TestNoLinkOutsideAListener checks that a process no listener started (this test, whose
// environment has no QCTL_LISTEN_FD or QCTL_LISTEN_GATE) gets no link, and that a nil link's
// methods behave as a plain worker needs: no reservation reports, events unchanged, pop at once.
func TestNoLinkOutsideAListener(t *testing.T) {
	t.Setenv(listener.ReportFDEnv, "")
	t.Setenv(listener.GateFDEnv, "")
	l := listener.Child()
	if l != nil {
		t.Fatalf("Child() = %+v, want nil", l)
	}
	if l.Reporter() != nil || listener.ChildReporter() != nil {
		t.Fatal("a process without a listener got a reservation reporter")
	}
	heard := 0
	report := l.Events(func(worker.Event) { heard++ })
	report(worker.Event{Type: worker.EventProcessed})
	if heard != 1 {
		t.Fatalf("the wrapped reporter heard %d events, want 1", heard)
	}
	if !l.WaitForGate() || !listener.WaitForGate() {
		t.Fatal("a process without a listener was told not to pop")
	}
}

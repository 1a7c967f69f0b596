package connectortest

import (
	"strconv"
	"testing"

	"github.com/qctl/qctl/connectors"
)

// testRestartSignal checks the restart signal as `qctl restart` and workers use it: nothing
// before a broadcast, then every instance on the backend reads the latest value broadcast.
func testRestartSignal(t *testing.T, h *harness) {
	open := h.o.Open
	if h.o.Private != nil {
		open = h.o.Private(t)
	}
	a, ok := open(t, h.clock, h.lease).(connectors.Restarter)
	if !ok {
		t.Skip("connector has no restart signal")
	}
	b := open(t, h.clock, h.lease).(connectors.Restarter)
	if v, err := a.RestartSignal(h.ctx); v != "" || err != nil {
		t.Fatalf("RestartSignal before any broadcast = %q, %v; want \"\"", v, err)
	}
	// qctl restart broadcasts the time in nanoseconds; two broadcasts in one second still differ.
	first := h.now().UnixNano()
	for _, v := range []string{strconv.FormatInt(first, 10), strconv.FormatInt(first+1, 10)} {
		if err := a.BroadcastRestart(h.ctx, v); err != nil {
			t.Fatalf("BroadcastRestart(%s): %v", v, err)
		}
		for i, r := range []connectors.Restarter{a, b} {
			if got, err := r.RestartSignal(h.ctx); got != v || err != nil {
				t.Fatalf("instance %d: RestartSignal = %q, %v after broadcasting %s", i+1, got, err, v)
			}
		}
	}
}

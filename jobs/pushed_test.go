package jobs

import (
	"strings"
	"testing"
	"time"
)

// TestDueAt reads each producer's push time at its own precision, adds the push delay, and
// ignores what no producer writes.
func TestDueAt(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)
	for _, c := range []struct {
		name, payload string
		want          time.Time
	}{
		{"horizon pushedAt string", `{"job":"A","pushedAt":"1796378400.123456"}`, at},
		{"pushedAt number", `{"job":"A","pushedAt":1796378400.123456}`, at},
		{"laravel 12 createdAt and delay", `{"job":"A","createdAt":1796378400,"delay":30}`, at.Truncate(time.Second).Add(30 * time.Second)},
		{"pushedAt wins over createdAt", `{"job":"A","createdAt":1796378399,"pushedAt":"1796378400.123456"}`, at},
		{"delay null", `{"job":"A","createdAt":1796378400,"delay":null}`, at.Truncate(time.Second)},
		{"neither", `{"job":"A"}`, time.Time{}},
		{"implausible", `{"job":"A","createdAt":1}`, time.Time{}},
		{"garbage pushedAt", `{"job":"A","pushedAt":"soon"}`, time.Time{}},
	} {
		p, err := Decode([]byte(c.payload))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := p.DueAt()
		if ok != !c.want.IsZero() || !got.Equal(c.want) {
			t.Errorf("%s: DueAt = %s, %v; want %s", c.name, got, ok, c.want)
		}
	}
}

// TestSetPushedAt writes Horizon's microtime string and Laravel 12's delay, which DueAt reads
// back, and leaves a think-queue payload alone.
func TestSetPushedAt(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 5000, time.UTC)
	p := NewPayload("A", nil)
	p.SetPushedAt(at, 90*time.Second)
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"pushedAt":"1796378400.000005","delay":90`) {
		t.Fatalf("payload %s lacks pushedAt and delay", raw)
	}
	back, _ := Decode(raw)
	if due, ok := back.DueAt(); !ok || !due.Equal(at.Add(90*time.Second)) {
		t.Errorf("DueAt = %s, %v; want %s", due, ok, at.Add(90*time.Second))
	}
	think := NewThinkPayload("app\\job\\A", nil)
	think.SetPushedAt(at, 0)
	if raw, _ := think.Encode(); strings.Contains(string(raw), "pushedAt") {
		t.Errorf("think payload got pushedAt: %s", raw)
	}
}

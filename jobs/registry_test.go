package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// named returns a handler that reports which registration served the job.
func named(name string) Handler {
	return func(context.Context, *Job) error { return errors.New(name) }
}

func servedBy(t *testing.T, r *Registry, p *Payload) string {
	t.Helper()
	h, err := r.Lookup(p)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", p.Job, err)
	}
	return h(context.Background(), nil).Error()
}

func TestLookupOrder(t *testing.T) {
	object := &Payload{
		Job:         CallQueuedHandlerJob,
		DisplayName: "Display",
		Data:        []byte(`{"commandName":"App\\Jobs\\Command","command":"O:..."}`),
	}
	stringJob := &Payload{Job: "SendEmail@handle", DisplayName: "Display"}

	r := NewRegistry()
	r.Register(`App\Jobs\Command`, named("commandName"))
	if got := servedBy(t, r, object); got != "commandName" {
		t.Errorf("object job served by %s, want commandName", got)
	}
	r.Register("Display", named("displayName"))
	if got := servedBy(t, r, object); got != "displayName" {
		t.Errorf("object job served by %s, want displayName", got)
	}
	if got := servedBy(t, r, stringJob); got != "displayName" {
		t.Errorf("string job served by %s, want displayName", got)
	}
	r.Register("SendEmail", named("name"))
	if got := servedBy(t, r, stringJob); got != "name" {
		t.Errorf("string job served by %s, want name", got)
	}
	r.Register("SendEmail@handle", named("exact"))
	if got := servedBy(t, r, stringJob); got != "exact" {
		t.Errorf("string job served by %s, want exact", got)
	}
	// commandName is consulted only for Laravel object jobs.
	r2 := NewRegistry()
	r2.Register("Cmd", named("commandName"))
	if _, err := r2.Lookup(&Payload{Job: "Other", Data: []byte(`{"commandName":"Cmd"}`)}); !errors.Is(err, ErrNoHandler) {
		t.Errorf("commandName used for a string job: err = %v", err)
	}
}

func TestLookupNoHandler(t *testing.T) {
	r := NewRegistry()
	r.Register("Other", named("other"))
	tests := []struct {
		p    *Payload
		want string
	}{
		{&Payload{Job: "SendEmail@handle", DisplayName: "SendEmail"},
			`no handler registered for job "SendEmail@handle" (register one, or declare [handlers."SendEmail"] in queue.toml)`},
		{&Payload{Job: CallQueuedHandlerJob, DisplayName: `App\Jobs\Report`, Data: []byte(`{"commandName":"App\\Jobs\\Report"}`)},
			`no handler registered for job "App\\Jobs\\Report" (register one, or declare [handlers."App\\Jobs\\Report"] in queue.toml)`},
		{&Payload{Job: CallQueuedHandlerJob, Data: []byte(`{"commandName":"App\\Jobs\\Cmd"}`)},
			`no handler registered for job "App\\Jobs\\Cmd" (register one, or declare [handlers."App\\Jobs\\Cmd"] in queue.toml)`},
		{nil, `no handler: the job has no payload`},
	}
	for _, tt := range tests {
		h, err := r.Lookup(tt.p)
		if h != nil || !errors.Is(err, ErrNoHandler) {
			t.Errorf("Lookup = %v, %v; want ErrNoHandler", h, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("error:\n got %s\nwant %s", err, tt.want)
		}
	}
}

func TestRegisterReplacesAndNamesSorted(t *testing.T) {
	r := NewRegistry()
	r.Register("b", named("first"))
	r.Register("a@x", named("a"))
	r.Register("b", named("second"))
	if got := servedBy(t, r, &Payload{Job: "b"}); got != "second" {
		t.Errorf("served by %s, want the later registration", got)
	}
	if got := r.Names(); !slices.Equal(got, []string{"a@x", "b"}) {
		t.Errorf("Names = %q", got)
	}
}

func TestRegisterPanicsOnProgrammingErrors(t *testing.T) {
	for name, f := range map[string]func(){
		"empty name":  func() { NewRegistry().Register("", named("x")) },
		"nil handler": func() { NewRegistry().Register("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestRegistryConcurrentUse(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.Register(fmt.Sprintf("job%d", i), named("x"))
		}()
		go func() {
			defer wg.Done()
			_, _ = r.Lookup(&Payload{Job: fmt.Sprintf("job%d", i)})
			_ = r.Names()
		}()
	}
	wg.Wait()
	if len(r.Names()) != 8 {
		t.Errorf("Names = %q", r.Names())
	}
}

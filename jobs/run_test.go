package jobs

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func panickingHandler(ctx context.Context, job *Job) error {
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return nil
}

func TestRunRecoversPanic(t *testing.T) {
	err := Run(context.Background(), panickingHandler, &Job{})
	if !errors.Is(err, ErrPanic) {
		t.Fatalf("err = %v, want ErrPanic", err)
	}
	msg := err.Error()
	for _, want := range []string{"handler panicked: assignment to entry in nil map", "jobs.panickingHandler", "run_test.go"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error text lacks %q:\n%s", want, msg)
		}
	}
}

func TestRunPanicWithError(t *testing.T) {
	err := Run(context.Background(), func(context.Context, *Job) error { panic(io.ErrUnexpectedEOF) }, &Job{})
	if !errors.Is(err, ErrPanic) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want both ErrPanic and the panic value", err)
	}
}

func TestRunPassesResultsThrough(t *testing.T) {
	want := errors.New("plain failure")
	if err := Run(context.Background(), func(context.Context, *Job) error { return want }, &Job{}); err != want {
		t.Errorf("err = %v, want the handler's error unchanged", err)
	}
	if err := Run(context.Background(), func(context.Context, *Job) error { return nil }, &Job{}); err != nil {
		t.Errorf("err = %v, want nil", err)
	}
	if err := Run(context.Background(), nil, &Job{}); !errors.Is(err, ErrNoHandler) {
		t.Errorf("nil handler: err = %v", err)
	}
}

func TestBind(t *testing.T) {
	job := &Job{Payload: &Payload{Job: "A", Data: []byte(`{"to":"a@example.com","n":3}`)}}
	var v struct {
		To string
		N  int
	}
	if err := job.Bind(&v); err != nil || v.To != "a@example.com" || v.N != 3 {
		t.Errorf("Bind = %v, %+v", err, v)
	}
	var n int
	if err := job.Bind(&n); err == nil {
		t.Error("Bind into the wrong type succeeded")
	}
	if err := (&Job{Payload: &Payload{Job: "A"}}).Bind(&v); err == nil {
		t.Error("Bind without data succeeded")
	}
}

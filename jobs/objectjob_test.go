package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestBindObjectJobGetsConstructorArguments binds the command of a job Laravel dispatched as
// dispatch(new SendEmail($user, $recipients, 'Welcome, Ada', ['welcome', 'onboarding'])).
func TestBindObjectJobGetsConstructorArguments(t *testing.T) {
	p := laravelPayload(t, "send_email")
	job := &Job{Payload: p}
	var args struct {
		User struct {
			Class string `json:"class"`
			ID    int    `json:"id"`
		} `json:"user"`
		Recipients struct {
			Class string `json:"@class"`
			IDs   []int  `json:"id"`
		} `json:"recipients"`
		Subject string   `json:"subject"` // protected in PHP
		Tags    []string `json:"tags"`    // private in PHP
		Queue   string   `json:"queue"`   // set by Queueable's onQueue
		Delay   int      `json:"delay"`
	}
	if err := job.Bind(&args); err != nil {
		t.Fatal(err)
	}
	if args.User.Class != `App\Models\User` || args.User.ID != 42 {
		t.Errorf("user = %+v, want App\\Models\\User 42", args.User)
	}
	if args.Recipients.Class != `Illuminate\Contracts\Database\ModelIdentifier` || !reflect.DeepEqual(args.Recipients.IDs, []int{7, 8}) {
		t.Errorf("recipients = %+v", args.Recipients)
	}
	if args.Subject != "Welcome, Ada" || !reflect.DeepEqual(args.Tags, []string{"welcome", "onboarding"}) {
		t.Errorf("subject, tags = %q, %q", args.Subject, args.Tags)
	}
	if args.Queue != "emails" || args.Delay != 10 {
		t.Errorf("queue, delay = %q, %d", args.Queue, args.Delay)
	}

	data, err := job.Data()
	if err != nil || string(data) != sendEmailProps {
		t.Errorf("Data = %s, %v; want the decoded properties", data, err)
	}
}

func TestDataOfAStringJobIsItsDataVerbatim(t *testing.T) {
	p := NewPayload("SendEmail@handle", json.RawMessage(`{"to": "a@example.com", "command": "O:1:\"X\":0:{}"}`))
	data, err := (&Job{Payload: p}).Data()
	if err != nil || string(data) != string(p.Data) {
		t.Fatalf("Data = %s, %v; want %s", data, err, p.Data)
	}
	if _, err := (&Job{}).Data(); err == nil {
		t.Fatal("Data of a job without a payload succeeded")
	}
}

func TestBindUndecodableCommandWrapsErrBadCommand(t *testing.T) {
	var v map[string]any
	err := (&Job{Payload: laravelPayload(t, "closure")}).Bind(&v)
	if !errors.Is(err, ErrBadCommand) || !strings.HasPrefix(err.Error(), "cannot decode the command of WithClosure: ") {
		t.Fatalf("Bind = %v, want ErrBadCommand naming WithClosure", err)
	}
	if v != nil {
		t.Fatalf("Bind filled %v despite the error", v)
	}
	// A decodable command bound into the wrong shape names the class, not CallQueuedHandler.
	var n int
	err = (&Job{Payload: laravelPayload(t, "enum")}).Bind(&n)
	if err == nil || errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), `"WithEnum"`) {
		t.Fatalf("Bind into an int = %v", err)
	}
}

// TestRealObjectJobsRouteByClass routes payloads Laravel made by their class, and names the class
// (as a queue.toml key) when nothing serves it.
func TestRealObjectJobsRouteByClass(t *testing.T) {
	r := NewRegistry()
	served := ""
	r.Register(`App\Jobs\SendEmail`, func(_ context.Context, j *Job) error { served = j.Payload.DisplayName; return nil })
	h, err := r.Lookup(laravelPayload(t, "send_email"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h(context.Background(), &Job{Payload: laravelPayload(t, "send_email")}); err != nil || served != `App\Jobs\SendEmail` {
		t.Fatalf("served %q, %v", served, err)
	}
	_, err = r.Lookup(laravelPayload(t, "scalars"))
	if !errors.Is(err, ErrNoHandler) || !strings.Contains(err.Error(), `[handlers."Scalars"]`) {
		t.Fatalf("unrouted object job: err = %v", err)
	}
}

package worker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// laravelPayload reads a payload that Laravel's own Queue::createPayload made (see
// jobs/testdata/laravel/gen.php).
func laravelPayload(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "jobs", "testdata", "laravel", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestObjectJobReachesGoHandlerWithConstructorArguments runs a job Laravel dispatched as
// dispatch(new SendEmail($user, $recipients, 'Welcome, Ada', ['welcome', 'onboarding'])).
func TestObjectJobReachesGoHandlerWithConstructorArguments(t *testing.T) {
	b := setup(t)
	type sendEmail struct {
		User struct {
			Class string `json:"class"`
			ID    int    `json:"id"`
		} `json:"user"`
		Recipients struct {
			IDs []int `json:"id"`
		} `json:"recipients"`
		Subject string   `json:"subject"`
		Tags    []string `json:"tags"`
	}
	got := make(chan sendEmail, 1)
	b.handlers.Register(`App\Jobs\SendEmail`, func(_ context.Context, j *jobs.Job) error {
		var args sendEmail
		if err := j.Bind(&args); err != nil {
			return err
		}
		got <- args
		return nil
	})
	b.pushRaw("default", laravelPayload(t, "send_email"))
	b.run(b.worker(worker.Options{StopWhenEmpty: true}))

	select {
	case args := <-got:
		if args.User.Class != `App\Models\User` || args.User.ID != 42 || len(args.Recipients.IDs) != 2 ||
			args.Recipients.IDs[0] != 7 || args.Recipients.IDs[1] != 8 || args.Subject != "Welcome, Ada" ||
			strings.Join(args.Tags, ",") != "welcome,onboarding" {
			t.Fatalf("handler got %+v", args)
		}
	default:
		t.Fatalf("the handler never ran; failed records: %+v", b.failedRecords())
	}
	if n := b.size("default"); n != 0 || len(b.failedRecords()) != 0 {
		t.Fatalf("%d jobs left, %d failed; want the job done and deleted", n, len(b.failedRecords()))
	}
}

// TestUndecodableCommandIsFailedAtOnce gives tries to spare: a command qctl cannot decode must
// not be retried, and the failed-job store must say which class and why.
func TestUndecodableCommandIsFailedAtOnce(t *testing.T) {
	b := setup(t)
	var runs atomic.Int32
	b.handlers.Register("WithClosure", func(_ context.Context, j *jobs.Job) error {
		runs.Add(1)
		var args map[string]any
		return j.Bind(&args)
	})
	b.pushRaw("default", laravelPayload(t, "closure"))
	b.run(b.worker(worker.Options{Tries: 5, StopWhenEmpty: true}))

	if runs.Load() != 1 || b.events.count(worker.EventReleased) != 0 {
		t.Fatalf("ran %d times with %d releases, want one run and no retry", runs.Load(), b.events.count(worker.EventReleased))
	}
	recs := b.failedRecords()
	if len(recs) != 1 {
		t.Fatalf("%d failed records, want 1", len(recs))
	}
	want := `cannot decode the command of WithClosure: callback: Opis\Closure\SerializableClosure was written by the class's own serializer (C:)`
	if !strings.HasPrefix(recs[0].Exception, want) {
		t.Fatalf("exception = %q, want it to start %q", recs[0].Exception, want)
	}
	if n := b.size("default"); n != 0 {
		t.Fatalf("%d jobs left on the queue", n)
	}
}

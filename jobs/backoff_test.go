package jobs

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	list, err := ParseBackoff("1, 5,10")
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{1 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}
	for attempt := 1; attempt <= 5; attempt++ {
		if got := BackoffFor(list, attempt); got != want[attempt-1] {
			t.Errorf("BackoffFor(attempt %d) = %v, want %v", attempt, got, want[attempt-1])
		}
	}
	if got := BackoffFor(list, 0); got != time.Second {
		t.Errorf("BackoffFor(attempt 0) = %v, want the first entry", got)
	}

	empty, err := ParseBackoff("")
	if err != nil || len(empty) != 0 || BackoffFor(empty, 3) != 0 {
		t.Errorf(`ParseBackoff("") = %v, %v; BackoffFor = %v`, empty, err, BackoffFor(empty, 3))
	}
	if got, err := ParseBackoff("3"); err != nil || BackoffFor(got, 9) != 3*time.Second {
		t.Errorf(`ParseBackoff("3") = %v, %v`, got, err)
	}
}

func TestParseBackoffBad(t *testing.T) {
	for _, s := range []string{"x", "1,,5", "1,-5", "1.5", "99999999999999999999"} {
		if list, err := ParseBackoff(s); err == nil {
			t.Errorf("ParseBackoff(%q) = %v, want an error", s, list)
		}
	}
	_, err := ParseBackoff("1,x")
	if want := `backoff "1,x": entry 2 ("x") is not a whole number of seconds`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

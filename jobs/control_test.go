package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"
)

func TestReleaseAfter(t *testing.T) {
	err := fmt.Errorf("rate limited: %w", ReleaseAfter(5*time.Second))
	var rel *ReleaseError
	if !errors.As(err, &rel) || rel.Delay != 5*time.Second {
		t.Fatalf("errors.As(%v) = %v, %+v", err, errors.As(err, &rel), rel)
	}
	var fail *FailError
	if errors.As(err, &fail) {
		t.Error("a release is not a failure")
	}
	if !errors.As(ReleaseAfter(-time.Second), &rel) || rel.Delay != 0 {
		t.Errorf("negative delay: %+v, want 0", rel)
	}
}

func TestFail(t *testing.T) {
	err := Fail(fmt.Errorf("user 7: %w", fs.ErrNotExist))
	var fail *FailError
	if !errors.As(err, &fail) {
		t.Fatalf("errors.As(%v, *FailError) = false", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("Fail hides the reason from errors.Is")
	}
	if got, want := err.Error(), "failed by handler: user 7: file does not exist"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := Fail(nil).Error(); got != "failed by handler" {
		t.Errorf("Fail(nil).Error() = %q", got)
	}
	var rel *ReleaseError
	if errors.As(err, &rel) {
		t.Error("a failure is not a release")
	}
}

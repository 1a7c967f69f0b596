package connectortest

import (
	"io"
	"strings"
	"testing"
)

type buffer struct{ strings.Builder }

func (*buffer) Close() error { return nil }

// TestMissingAnnouncesOncePerMessage: a skip is announced on the terminal once per message, so
// `go test ./...` without -v says which services a package lacked.
func TestMissingAnnouncesOncePerMessage(t *testing.T) {
	t.Setenv("QCTL_REQUIRE_SERVICES", "")
	var out buffer
	old := announceTo
	announceTo = func() (io.WriteCloser, error) { return &out, nil }
	t.Cleanup(func() { announceTo = old })
	for range 3 {
		t.Run("skips", func(t *testing.T) { Missing(t, "Foo is not reachable at 127.0.0.1:1; start it with: foo &") })
	}
	if got := out.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "skipping tests: Foo is not reachable at 127.0.0.1:1; start it with: foo &") {
		t.Fatalf("announced %q", got)
	}
}

package commands_test

import (
	"testing"
)

func TestClearForceClearsOnlyThatQueue(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	for range 2 {
		e.ok("push", "Record", "{}")
	}
	for range 3 {
		e.ok("push", "Record", "{}", "--queue", "mail")
	}
	e.ok("push", "Record", "{}", "--queue", "mail", "--delay", "3600")

	expect(t, e.ok("clear", "--queue", "mail", "--force"), 0, "Cleared 4 jobs from the [mail] queue on connection [database].")
	if n := e.queueSize("mail"); n != 0 {
		t.Fatalf("mail holds %d jobs after clear, want 0", n)
	}
	if n := e.queueSize("default"); n != 2 {
		t.Fatalf("default holds %d jobs after clearing mail, want its 2", n)
	}
	// Without --queue it clears the connection's queue; stdin is not a terminal, so it asks nothing.
	expect(t, e.ok("clear"), 0, "Cleared 2 jobs from the [default] queue")
	if n := e.queueSize("default"); n != 0 {
		t.Fatalf("default holds %d jobs after clear, want 0", n)
	}
	expect(t, e.qctl("clear", "database", "mail"), 2, "--queue")
}

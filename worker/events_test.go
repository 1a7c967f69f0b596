package worker_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/worker"
)

// Job names, queue names and exception text come from payloads and handlers: a control character
// in them must not start a forged log line or drive the operator's terminal.
func TestTextReporterEscapesControlCharacters(t *testing.T) {
	forged := "Evil\n2026-11-21 10:00:00 Forged .......... 1.00ms DONE\x1b[2J\r\t\x7f\u009b\xff"
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, e := range []worker.Event{
		{Time: at, Type: worker.EventProcessed, Job: forged},
		{Time: at, Type: worker.EventFailed, Job: forged, Error: forged},
		{Time: at, Type: worker.EventError, Job: forged, Queue: forged, Error: forged},
		{Time: at, Type: worker.EventStopping, Reason: worker.StopTimedOut, Error: forged},
	} {
		var buf bytes.Buffer
		worker.TextReporter(&buf)(e)
		out := strings.TrimSuffix(buf.String(), "\n")
		lines := strings.Split(out, "\n")
		if e.Type == worker.EventFailed { // the job's line, then its exception's first line indented
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "    ") {
				t.Errorf("%s: %d lines, want the job and its indented exception:\n%s", e.Type, len(lines), out)
			}
		} else if len(lines) != 1 {
			t.Errorf("%s: %d lines, want 1:\n%s", e.Type, len(lines), out)
		}
		for _, r := range out {
			if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfffd) {
				t.Errorf("%s: control character %U left in %q", e.Type, r, out)
			}
		}
		if !strings.Contains(out, `Evil\n2026-11-21`) || !strings.Contains(out, `\x1b[2J`) {
			t.Errorf("%s: the escapes do not show what was there: %q", e.Type, out)
		}
	}
}

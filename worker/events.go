package worker

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"
)

// EventType names what happened.
type EventType string

// The events a worker reports.
const (
	EventStarting  EventType = "starting"  // the worker is about to pop
	EventProcessed EventType = "processed" // the handler succeeded and the job is deleted
	EventReleased  EventType = "released"  // the job went back to the queue to run again
	EventFailed    EventType = "failed"    // the job went to the failed store
	EventError     EventType = "error"     // the worker hit an error it survives (backend down, ...)
	EventRecovered EventType = "recovered" // the backend answers again after an outage of Duration and Attempts failed tries
	EventPaused    EventType = "paused"
	EventResumed   EventType = "resumed"
	EventStopping  EventType = "stopping" // the worker stops popping, for Reason
	EventStopped   EventType = "stopped"  // the worker is done, for Reason
)

// Event is one thing a worker did, for logs and log shippers.
type Event struct {
	Time     time.Time     `json:"time"`
	Type     EventType     `json:"event"`
	Worker   string        `json:"worker,omitempty"`
	Job      string        `json:"job,omitempty"`
	ID       string        `json:"id,omitempty"`
	Queue    string        `json:"queue,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
	Duration time.Duration `json:"-"`
	Delay    time.Duration `json:"-"`
	// Wait is how long a finished job waited from due to its start, as its payload
	// (jobs.Payload.DueAt) or its backend (connectors.Reserved.ReadyAt) tells; negative when
	// neither does, or the job had run before.
	Wait   time.Duration `json:"-"`
	Error  string        `json:"error,omitempty"`
	Reason StopReason    `json:"reason,omitempty"`
}

// Reporter receives every event. It is called from several goroutines.
type Reporter func(Event)

// TextReporter writes one aligned line per finished job, like `php artisan queue:work`:
//
//	2026-11-21 10:00:00 SendEmail ..................................... 12.34ms DONE
func TextReporter(w io.Writer) Reporter { return textReporter(w, false) }

// ColourTextReporter is TextReporter with each job's outcome coloured as artisan colours it on a
// terminal: DONE green, FAIL red, RELEASED yellow. The caller decides when: only on a terminal,
// without NO_COLOR or --no-ansi.
func ColourTextReporter(w io.Writer) Reporter { return textReporter(w, true) }

// outcomes are the words that end a job line and their colours; EnableColor because the caller
// has already decided, whatever fatih/color guesses from os.Stdout.
var outcomes = func() map[EventType]outcomeStyle {
	m := map[EventType]outcomeStyle{
		EventProcessed: {"DONE", color.New(color.FgGreen)},
		EventFailed:    {"FAIL", color.New(color.FgRed)},
		EventReleased:  {"RELEASED", color.New(color.FgYellow)},
	}
	for _, o := range m {
		o.colour.EnableColor()
	}
	return m
}()

type outcomeStyle struct {
	word   string
	colour *color.Color
}

func textReporter(w io.Writer, colour bool) Reporter {
	var mu sync.Mutex
	return func(e Event) {
		line := textLine(e)
		if line == "" {
			return
		}
		if o, ok := outcomes[e.Type]; colour && ok {
			line = o.paint(line)
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, line+"\n")
	}
}

// paint colours the outcome that ends a job line's first line.
func (o outcomeStyle) paint(line string) string {
	first, rest, more := strings.Cut(line, "\n")
	at := strings.LastIndex(first, " "+o.word)
	if at < 0 {
		return line
	}
	first = first[:at+1] + o.colour.Sprint(first[at+1:])
	if more {
		return first + "\n" + rest
	}
	return first
}

// textWidth is the width a job line is padded to: an 80-column terminal.
const textWidth = 80

// textLine is e's line for people. Job names, queues and errors in it are escaped (see printable),
// since they come from payloads and handlers.
func textLine(e Event) string {
	e.Job, e.ID, e.Error = printable(e.Job), printable(e.ID), printable(e.Error)
	stamp := e.Time.Format("2006-01-02 15:04:05")
	var status string
	switch e.Type {
	case EventProcessed:
		status = "DONE"
	case EventReleased:
		status = "RELEASED"
		if e.Delay > 0 {
			status += " (retry in " + e.Delay.String() + ")"
		}
	case EventFailed:
		status = "FAIL"
	case EventError:
		return fmt.Sprintf("%s ERROR %s", stamp, e.Error)
	case EventRecovered:
		return fmt.Sprintf("%s Backend answers again after %s (%d failed tries)", stamp, e.Duration.Round(time.Millisecond), e.Attempts)
	case EventStopping, EventStopped, EventPaused, EventResumed:
		if e.Type == EventStopped {
			return fmt.Sprintf("%s Worker stopped: %s", stamp, e.Reason)
		}
		if e.Type == EventStopping {
			if e.Error != "" {
				return fmt.Sprintf("%s Worker stopping: %s (%s)", stamp, e.Reason, e.Error)
			}
			return fmt.Sprintf("%s Worker stopping: %s", stamp, e.Reason)
		}
		if e.Queue != "" { // a heartbeat saw queues paused or continued
			return fmt.Sprintf("%s Worker %s: %s", stamp, e.Type, e.Queue)
		}
		return fmt.Sprintf("%s Worker %s", stamp, e.Type)
	default:
		return ""
	}
	job := e.Job
	if job == "" {
		job = "(unreadable job)"
	}
	if e.ID != "" { // the id `push` printed, so a job can be followed from push to its line
		job += " #" + e.ID
	}
	left := stamp + " " + job + " "
	right := " " + formatDuration(e.Duration) + " " + status
	dots := textWidth - len(left) - len(right)
	if dots < 3 {
		dots = 3
	}
	line := left + strings.Repeat(".", dots) + right
	if e.Type == EventFailed && e.Error != "" {
		first, _, _ := strings.Cut(e.Error, `\n`) // the exception's first line
		line += "\n    " + first
	}
	return line
}

// printable escapes what could forge a log line or drive a terminal: C0 controls (newline, ESC,
// tab, ...), DEL, C1 controls and bytes that are not UTF-8 (an 8-bit terminal reads 0x9b as CSI).
// They are written as Go escapes (\n, \x1b, \u009b), so the line still shows what was there.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case isControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// isControl reports whether r is a C0 or C1 control character, DEL, or undecodable (RuneError).
func isControl(r rune) bool {
	return r < 0x20 || r >= 0x7f && r <= 0x9f || r == utf8.RuneError
}

// formatDuration prints milliseconds with two decimals below a second, as Laravel does.
func formatDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// JSONReporter writes one JSON object per event and line, for log shippers.
func JSONReporter(w io.Writer) Reporter {
	var mu sync.Mutex
	return func(e Event) {
		out := struct {
			Event
			DurationMS *float64 `json:"duration_ms,omitempty"`
			DelayS     *float64 `json:"delay_s,omitempty"`
		}{Event: e}
		if e.Type == EventProcessed || e.Type == EventReleased || e.Type == EventFailed || e.Type == EventRecovered {
			ms := float64(e.Duration) / float64(time.Millisecond)
			out.DurationMS = &ms
		}
		if e.Delay > 0 {
			s := e.Delay.Seconds()
			out.DelayS = &s
		}
		b, err := json.Marshal(out)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(append(b, '\n'))
	}
}

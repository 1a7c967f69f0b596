package listener

import (
	"encoding/json"
	"os"
	"sync"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/worker"
)

// ReportFDEnv names the environment variable that tells a `work --once` child which file
// descriptor carries its reservation reports to the listener.
const ReportFDEnv = "QCTL_LISTEN_FD"

// reportFD is the descriptor the listener hands its children: the first of cmd.ExtraFiles.
const reportFD = 3

// message is one line a child writes on the report pipe: a reservation starting or ending, or
// one of its worker's events (for the listener's metrics).
type message struct {
	Done  bool                 `json:"done,omitempty"`
	Job   *connectors.Reserved `json:"job,omitempty"`
	Event *worker.Event        `json:"event,omitempty"`
	// Event's Duration and Delay are not in its JSON form; they travel here.
	DurationNS int64 `json:"duration_ns,omitempty"`
	DelayNS    int64 `json:"delay_ns,omitempty"`
}

// Link is this process's side of the listen protocol, when a listener started it: the report
// pipe its worker writes reservations and events on, and the gate it waits at before it pops.
// Its methods work on a nil *Link (a process no listener started) too, so callers need not check.
type Link struct {
	report *pipeWriter // nil without QCTL_LISTEN_FD
	gate   func() bool // nil without QCTL_LISTEN_GATE; waits once, then repeats its answer
}

// link is read from the environment once, however many callers ask.
var link = sync.OnceValue(func() *Link {
	var l Link
	if os.Getenv(ReportFDEnv) != "" {
		l.report = &pipeWriter{enc: json.NewEncoder(os.NewFile(reportFD, "listen-report"))}
	}
	if os.Getenv(GateFDEnv) != "" {
		l.gate = sync.OnceValue(func() bool {
			f := os.NewFile(gateFD, "listen-gate")
			defer f.Close()
			var b [1]byte
			n, _ := f.Read(b[:])
			return n == 1
		})
	}
	if l.report == nil && l.gate == nil {
		return nil
	}
	return &l
})

// Child returns this process's link to the listener that started it (`work --once` under
// `listen`), or nil when no listener did. The environment is read on the first call only.
func Child() *Link { return link() }

// pipeWriter serialises messages from the worker's goroutines onto the pipe.
type pipeWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *pipeWriter) send(m message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(m) // a listener gone away is not the job's problem
}

// Reporter returns the Watch hook a worker started by `listen` uses to report its reservations,
// or nil when this process was not started by a listener.
func (l *Link) Reporter() func(*connectors.Reserved, bool) {
	if l == nil || l.report == nil {
		return nil
	}
	w := l.report
	return func(r *connectors.Reserved, done bool) { w.send(message{Done: done, Job: r}) }
}

// Events wraps a child worker's reporter so its events also reach the listener, which counts them
// in its metrics; outside a listener it returns report unchanged.
func (l *Link) Events(report worker.Reporter) worker.Reporter {
	if l == nil || l.report == nil {
		return report
	}
	w := l.report
	return func(e worker.Event) {
		report(e)
		w.send(message{Event: &e, DurationNS: int64(e.Duration), DelayNS: int64(e.Delay)})
	}
}

// WaitForGate blocks a child started by `listen` until the listener lets it pop, and reports
// whether it may: false means the listener is stopping (or gone) and the child should exit.
// A process not started by a listener may always pop.
func (l *Link) WaitForGate() bool {
	if l == nil || l.gate == nil {
		return true
	}
	return l.gate()
}

// ChildReporter is Child().Reporter().
func ChildReporter() func(*connectors.Reserved, bool) { return Child().Reporter() }

// ChildEvents is Child().Events(report).
func ChildEvents(report worker.Reporter) worker.Reporter { return Child().Events(report) }

// GateFDEnv names the environment variable that tells a pre-started child which file descriptor
// to wait on before it pops: the listener starts each slot's next child while the current one
// runs, so the next job does not wait for a process to start and connect.
const GateFDEnv = "QCTL_LISTEN_GATE"

// gateFD is the descriptor of the gate: the second of cmd.ExtraFiles.
const gateFD = 4

// WaitForGate is Child().WaitForGate().
func WaitForGate() bool { return Child().WaitForGate() }

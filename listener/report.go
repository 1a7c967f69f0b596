package listener

import (
	"encoding/json"
	"os"

	"github.com/qctl/qctl/connectors"
)

// ReportFDEnv names the environment variable that tells a `work --once` child which file
// descriptor carries its reservation reports to the listener.
const ReportFDEnv = "QCTL_LISTEN_FD"

// reportFD is the descriptor the listener hands its children: the first of cmd.ExtraFiles.
const reportFD = 3

// message is one line a child writes on the report pipe.
type message struct {
	Done bool                 `json:"done"`
	Job  *connectors.Reserved `json:"job"`
}

// ChildReporter returns the Watch hook a worker started by `listen` uses to report its
// reservations, or nil when this process was not started by a listener.
func ChildReporter() func(*connectors.Reserved, bool) {
	if os.Getenv(ReportFDEnv) == "" {
		return nil
	}
	f := os.NewFile(reportFD, "listen-report")
	enc := json.NewEncoder(f)
	return func(r *connectors.Reserved, done bool) {
		_ = enc.Encode(message{Done: done, Job: r}) // a listener gone away is not the job's problem
	}
}

// GateFDEnv names the environment variable that tells a pre-started child which file descriptor
// to wait on before it pops: the listener starts each slot's next child while the current one
// runs, so the next job does not wait for a process to start and connect.
const GateFDEnv = "QCTL_LISTEN_GATE"

// gateFD is the descriptor of the gate: the second of cmd.ExtraFiles.
const gateFD = 4

// WaitForGate blocks a child started by `listen` until the listener lets it pop, and reports
// whether it may: false means the listener is stopping (or gone) and the child should exit.
// A process not started by a listener may always pop.
func WaitForGate() bool {
	if os.Getenv(GateFDEnv) == "" {
		return true
	}
	f := os.NewFile(gateFD, "listen-gate")
	defer f.Close()
	var b [1]byte
	n, _ := f.Read(b[:])
	return n == 1
}

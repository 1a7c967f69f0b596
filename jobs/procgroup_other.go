//go:build !unix

package jobs

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing where process groups do not exist; only the command itself is
// signalled there.
func setProcessGroup(cmd *exec.Cmd) {}

// terminateGroup kills the command: without process groups or SIGTERM there is no gentler stop.
func terminateGroup(p *os.Process) error {
	if p == nil {
		return os.ErrProcessDone
	}
	return p.Kill()
}

// killGroup kills the command if it is still running.
func killGroup(p *os.Process) {
	if p != nil {
		_ = p.Kill()
	}
}

//go:build !linux

package jobs

import "os/exec"

// Elsewhere than Linux there is no parent-death signal and no /proc to find a run's processes by:
// a command and its group are killed when its job's context ends, and that is all.

// TieToProcess does nothing here.
func TieToProcess() {}

func tie(*exec.Cmd) string { return "" }

func startTied(cmd *exec.Cmd) error { return cmd.Start() }

func killRun(string) {}

//go:build linux

package listener

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killSession SIGKILLs every process in the session led by pid: the child and everything it
// started, including exec handlers that run in process groups of their own.
func killSession(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL) // the child's own group first, at once
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == os.Getpid() {
			continue
		}
		if sessionOf(p) == pid {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// sessionOf reads the session id from /proc/pid/stat (field 6), or -1.
func sessionOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; the fields after its closing paren are plain.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 4 {
		return -1
	}
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		return -1
	}
	return sid
}

// residentBytes returns pid's resident set size, or 0 when it cannot be read.
func residentBytes(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

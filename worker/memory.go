package worker

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// ResidentMemory returns this process's resident set size in bytes; the listener checks its own
// memory with it.
func ResidentMemory() uint64 { return residentMemory() }

// residentMemory returns this process's resident set size in bytes, read from /proc/self/statm.
// Where /proc is missing it falls back to the Go runtime's view of memory obtained from the OS,
// which over-counts a little but never under-counts Go allocations.
func residentMemory() uint64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		fields := strings.Fields(string(b))
		if len(fields) > 1 {
			if pages, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
				return pages * uint64(os.Getpagesize())
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Sys
}

package manager

import (
	"bytes"
	"io"
	"sync"
)

// prefixWriter writes each complete line to out with prefix before it, so that on a terminal the
// output of several jobs, and the worker's own lines, can be told apart. A partial line waits for
// its end, or for Flush when the command exits.
type prefixWriter struct {
	mu      sync.Mutex // stdout and stderr are copied from goroutines of their own
	out     io.Writer
	prefix  []byte
	pending []byte
}

func newPrefixWriter(out io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{out: out, prefix: []byte(prefix)}
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, b...)
	var lines []byte
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			break
		}
		lines = append(append(lines, w.prefix...), w.pending[:i+1]...)
		w.pending = w.pending[i+1:]
	}
	if len(lines) > 0 {
		if _, err := w.out.Write(lines); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

// Flush writes a last line that had no newline.
func (w *prefixWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		line := append(append(append([]byte(nil), w.prefix...), w.pending...), '\n')
		_, _ = w.out.Write(line)
		w.pending = nil
	}
}

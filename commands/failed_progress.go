package commands

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBar draws "[=====>    ]  41200/100000  41%" on one terminal line, redrawn at most ten
// times a second. It is a few lines rather than a dependency because retry needs only this: a
// count, a bar, and a way to step aside while job lines are printed above it.
type progressBar struct {
	w          io.Writer
	total, n   int64
	drawn      bool
	lastDrawAt time.Time
	width      int
}

func newProgressBar(w io.Writer, total int64) *progressBar {
	cols, _ := terminalSize(w)
	b := &progressBar{w: w, total: max(total, 1), width: max(10, min(cols, 100)-30)}
	b.draw()
	return b
}

// add counts n more jobs done and redraws when the last draw is old enough.
func (b *progressBar) add(n int) {
	b.n += int64(n)
	if time.Since(b.lastDrawAt) >= 100*time.Millisecond || b.n >= b.total {
		b.draw()
	}
}

// clear erases the bar so that other output can take its line; the next add draws it again.
func (b *progressBar) clear() {
	if b.drawn {
		io.WriteString(b.w, "\r\x1b[K")
		b.drawn = false
	}
}

// finish draws the final state and ends its line.
func (b *progressBar) finish() {
	b.draw()
	io.WriteString(b.w, "\n")
	b.drawn = false
}

func (b *progressBar) draw() {
	n := min(b.n, b.total)
	done := int(int64(b.width) * n / b.total)
	bar := strings.Repeat("=", done)
	if done < b.width {
		bar += ">" + strings.Repeat(" ", b.width-done-1)
	}
	fmt.Fprintf(b.w, "\r\x1b[K[%s] %d/%d %3d%%", bar, n, b.total, 100*n/b.total)
	b.drawn, b.lastDrawAt = true, time.Now()
}

package commands

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// newProgressBar draws a progress bar for total items on w, a terminal, sized to its width:
// "retrying  41% |████████        | (41200/100000) [2s:3s]", redrawn at most ten times a second
// and erased when finished, so the summary line takes its place.
//
// schollz/progressbar rather than a hand-written bar: it is widely used and maintained, and
// already does what a bar needs beyond drawing (throttling, rate and time left, erasing itself),
// with no dependency beyond golang.org/x/term, which qctl already uses.
func newProgressBar(w io.Writer, total int64, what string) *progressbar.ProgressBar {
	cols, _ := terminalSize(w)
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(max(10, min(cols, 120)-50)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)
}

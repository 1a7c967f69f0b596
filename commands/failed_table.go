package commands

import (
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/term"
	"golang.org/x/text/width"

	"github.com/qctl/qctl/failed"
)

// defaultWidth is the width `failed` fits its table to when stdout is not a terminal.
const defaultWidth = 80

// minExceptionColumn is the narrowest exception column worth having; below it the exception goes
// on its own line under the row.
const minExceptionColumn = 20

// terminalSize returns w's size in columns and rows. When w is not a terminal (a pipe, a file,
// a test's buffer) it is $COLUMNS columns if that is set, as for ls, else 80; and 0 rows.
func terminalSize(w io.Writer) (cols, rows int) {
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		if c, r, err := term.GetSize(int(f.Fd())); err == nil && c > 0 {
			return c, r
		}
	}
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c, 0
	}
	return defaultWidth, 0
}

// column is one column of the table: its header, its cells, and how to cut a cell that is too
// wide (a PHP class name keeps its end, where the class is; the rest keep their start).
type column struct {
	header  string
	cells   []string
	keepEnd bool
	width   int
	min     int
}

// writeFailedTable prints recs as a table no line of which is wider than cols (as long as an id
// and a date fit at all): ID whole, Failed At without its seconds and Connection, Queue and Job
// cut (with "…") when they must, and the exception's first line in the column that is left. When
// too little is left for a useful exception column (always, with uuids, at 80 columns), the
// exception goes on its own indented line under its row instead.
func writeFailedTable(w io.Writer, recs []failed.Record, cols int) error {
	id := column{header: "ID"}
	conn := column{header: "Connection", min: 4}
	queue := column{header: "Queue", min: 5}
	job := column{header: "Job", keepEnd: true, min: 8}
	at := column{header: "Failed At"}
	var exceptions []string
	for _, r := range recs {
		id.cells = append(id.cells, clean(r.ID))
		conn.cells = append(conn.cells, clean(r.Connection))
		queue.cells = append(queue.cells, clean(r.Queue))
		job.cells = append(job.cells, clean(failedJobName(r.Payload)))
		at.cells = append(at.cells, r.FailedAt.Format(time.DateTime))
		exceptions = append(exceptions, strings.TrimSpace(clean(firstLine(r.Exception))))
	}
	for _, c := range []*column{&id, &conn, &queue, &job, &at} {
		c.width = cellWidth(c.header)
		for _, s := range c.cells {
			c.width = max(c.width, cellWidth(s))
		}
	}
	flex := []*column{&conn, &queue, &job}
	natural := conn.width + queue.width + job.width
	excWidth := cellWidth("Exception")
	for _, e := range exceptions {
		excWidth = max(excWidth, cellWidth(e))
	}
	// Narrow terminals give up, in turn, the seconds of Failed At, then a space of each gap,
	// before cutting Connection, Queue and Job.
	gap := 2
	avail := cols - id.width - at.width - 4*gap
	if natural > avail {
		at.width = len("2006-01-02 15:04")
		for i := range at.cells {
			at.cells[i] = at.cells[i][:at.width]
		}
		avail = cols - id.width - at.width - 4*gap
	}
	if natural > avail {
		gap = 1
		avail = cols - id.width - at.width - 4*gap
	}
	inline := avail-natural-gap >= min(minExceptionColumn, excWidth)
	if inline {
		excWidth = min(excWidth, avail-natural-gap)
	} else {
		shrink(flex, avail)
	}

	var b strings.Builder
	row := func(cells ...string) {
		line := strings.Builder{}
		for i, c := range cells {
			if i > 0 {
				line.WriteString(strings.Repeat(" ", gap))
			}
			line.WriteString(c)
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	headers := []string{pad(id.header, id.width), pad(fit(conn.header, conn.width, false), conn.width),
		pad(fit(queue.header, queue.width, false), queue.width), pad(job.header, job.width), pad(at.header, at.width)}
	if inline {
		headers = append(headers, "Exception")
	}
	row(headers...)
	for i := range recs {
		cells := []string{pad(id.cells[i], id.width)}
		for _, c := range flex {
			// A PHP class keeps its end, where the class name is.
			keepEnd := c.keepEnd && strings.Contains(c.cells[i], `\`)
			cells = append(cells, pad(fit(c.cells[i], c.width, keepEnd), c.width))
		}
		cells = append(cells, pad(at.cells[i], at.width))
		if inline {
			cells = append(cells, fit(exceptions[i], excWidth, false))
		}
		row(cells...)
		if !inline && exceptions[i] != "" {
			b.WriteString("  " + fit(exceptions[i], max(cols-2, minExceptionColumn), false) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shrink narrows the widest of cols, one cell at a time and never below their minimum, until
// together they fit in avail.
func shrink(cols []*column, avail int) {
	for {
		total, widest := 0, (*column)(nil)
		for _, c := range cols {
			total += c.width
			if c.width > c.min && (widest == nil || c.width > widest.width) {
				widest = c
			}
		}
		if total <= avail || widest == nil {
			return
		}
		widest.width--
	}
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	s = strings.TrimLeft(s, "\r\n")
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimRight(line, "\r ")
}

// clean replaces control characters (tabs, escapes) with spaces, so a cell is one line whose
// width can be counted and no payload can drive the operator's terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// cellWidth is how many terminal columns s takes: two for East Asian wide and full-width runes
// (think-queue users' exception messages are often Chinese), one for the rest.
func cellWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// fit cuts s to at most w columns, marking the cut with "…": at its end, or at its start when
// keepEnd is set.
func fit(s string, w int, keepEnd bool) string {
	if cellWidth(s) <= w {
		return s
	}
	if w <= 1 {
		return strings.Repeat("…", max(w, 0))
	}
	runes := []rune(s)
	used := 1 // the ellipsis
	if keepEnd {
		i := len(runes)
		for i > 0 && used+runeWidth(runes[i-1]) <= w {
			i--
			used += runeWidth(runes[i])
		}
		return "…" + string(runes[i:])
	}
	i := 0
	for i < len(runes) && used+runeWidth(runes[i]) <= w {
		used += runeWidth(runes[i])
		i++
	}
	return string(runes[:i]) + "…"
}

// pad fills s with spaces to w columns.
func pad(s string, w int) string {
	if n := w - cellWidth(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}

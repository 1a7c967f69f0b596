package commands

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/manager"
)

func pushCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "push a job onto a queue and print its id (Queue::push)",
		ArgsUsage: "<job> [json-data]",
		Description: "The job is a handler name, `Name` or `Name@method`. Its data is the JSON argument, the\n" +
			"--data-file, or standard input when that is a pipe or a file.",
		Flags: []cli.Flag{
			connectionFlag(),
			&cli.StringFlag{Name: "queue", Usage: "queue to push to (default: the connection's queue)"},
			&cli.IntFlag{Name: "delay", Usage: "seconds before the job becomes available"},
			&cli.StringFlag{Name: "data-file", Usage: "read the JSON data from `FILE` (- for standard input)"},
			&cli.StringFlag{Name: "file", Usage: "push one job per line of `FILE` (JSON lines: each line is one job's data; - for standard input), in bulk where the backend can: all or nothing on a database connection, in chunks of 1000 elsewhere"},
			&cli.IntFlag{Name: "resume-from", Usage: "with --file: skip the lines before `LINE`, to continue a push that stopped part way (its error names the line)"},
			&cli.BoolFlag{Name: "ids", Usage: "with --file on a terminal, print every job's id instead of a progress bar (piped, they are always printed)"},
			&cli.IntFlag{Name: "tries", Usage: "the job's maxTries (0 = leave it to the worker's --tries)"},
			&cli.StringFlag{Name: "backoff", Usage: "the job's backoff, e.g. `1,5,10`"},
			&cli.IntFlag{Name: "timeout", Usage: "the job's timeout in seconds (0 = leave it to the worker)"},
			&cli.Uint64Flag{Name: "priority", DefaultText: "the connection's priority",
				Usage: "beanstalkd priority `N`: 0 most urgent, 4294967295 least; beanstalkd only, other drivers refuse it"},
		},
		Action: func(c *cli.Context) error { return runPush(c, p) },
	}
}

func runPush(c *cli.Context, p *Program) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return usageError("push takes a job name and optional JSON data (see `qctl push --help`)")
	}
	name := c.Args().Get(0)
	if b := c.String("backoff"); b != "" {
		if _, err := jobs.ParseBackoff(b); err != nil {
			return usageError("--backoff %q: %v", b, err)
		}
	}
	if c.Int("delay") < 0 {
		return usageError("--delay must not be negative")
	}
	var datas []json.RawMessage
	var lineNumbers []int // with --file, the line each job's data came from
	if c.IsSet("resume-from") && c.String("file") == "" {
		return usageError("--resume-from goes with --file")
	}
	if file := c.String("file"); file != "" {
		if c.NArg() == 2 || c.IsSet("data-file") {
			return usageError("--file gives every job's data; do not also give data as an argument or with --data-file")
		}
		if c.Int("resume-from") < 0 {
			return usageError("--resume-from must be a line number")
		}
		var err error
		if datas, lineNumbers, err = readJSONLines(p, file, c.Int("resume-from")); err != nil {
			return err
		}
	} else {
		data, err := pushData(c, p)
		if err != nil {
			return err
		}
		datas = []json.RawMessage{data}
	}

	// One job's id is always printed; a file's ids go to a pipe (or with --ids), while a
	// terminal gets a progress bar and the summary instead of 100,000 lines.
	var bar *progressbar.ProgressBar
	if len(datas) > 1 && isTerminal(p.Stdout) && !c.Bool("ids") {
		bar = newProgressBar(p.Stderr, int64(len(datas)), "pushing")
	}
	o := manager.PushOptions{
		Queue: c.String("queue"), Delay: time.Duration(c.Int("delay")) * time.Second,
		Tries: c.Int("tries"), Backoff: c.String("backoff"), Timeout: c.Int("timeout"),
		Pushed: func(ids []string) {
			if bar != nil {
				_ = bar.Add(len(ids))
				return
			}
			var out strings.Builder
			for _, id := range ids {
				out.WriteString(id)
				out.WriteByte('\n')
			}
			io.WriteString(p.Stdout, out.String())
		},
	}
	ctx, conn, done, err := openConnection(c, p, -1)
	if err != nil {
		return err
	}
	defer done()
	if c.IsSet("priority") {
		if !conn.CanPrioritize() {
			return usageError("--priority is only for beanstalkd connections; connection %s is %s", conn.Name, conn.Driver)
		}
		if c.Uint64("priority") > math.MaxUint32 {
			return usageError("--priority %d is out of range: beanstalkd priorities run from 0 (most urgent) to %d", c.Uint64("priority"), uint32(math.MaxUint32))
		}
		priority := uint32(c.Uint64("priority"))
		o.Priority = &priority
	}
	queue := o.Queue
	if queue == "" {
		queue = conn.Queue
	}
	ids, err := conn.Push(ctx, name, datas, o)
	if bar != nil {
		_ = bar.Finish()
	}
	printed := "the ids of those pushed are printed; "
	if bar != nil {
		printed = ""
	}
	switch {
	case errors.Is(err, connectors.ErrInvalidQueueName):
		return managerError(err)
	case err != nil && lineNumbers != nil && len(ids) > 0:
		next := lineNumbers[len(ids)-1] + 1
		return fmt.Errorf("%w (%sthe file is pushed up to line %d: continue with --resume-from %d)", err, printed, next-1, next)
	case err != nil && lineNumbers != nil:
		return fmt.Errorf("%w (nothing was pushed)", err)
	case err != nil:
		return err
	}
	if len(datas) > 1 {
		fmt.Fprintf(p.Stderr, "Pushed %d %s jobs onto the [%s] queue.\n", len(ids), name, queue)
	}
	return nil
}

// readJSONLines reads --file: one job's JSON data per line, blank lines skipped. Every line is
// checked before anything is pushed, so a typo on line 9,000 does not leave 8,999 jobs pushed.
func readJSONLines(p *Program, file string, from int) ([]json.RawMessage, []int, error) {
	var r io.Reader = p.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, nil, usageError("--file: %v", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []json.RawMessage
	var lines []int
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || line < from {
			continue
		}
		if !json.Valid(text) {
			var v any
			err := json.Unmarshal(text, &v)
			return nil, nil, usageError("%s line %d is not valid JSON: %v (nothing was pushed)", file, line, err)
		}
		out = append(out, append(json.RawMessage(nil), text...))
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(out) == 0 && from > 1 {
		return nil, nil, usageError("%s has no jobs from line %d on", file, from)
	}
	if len(out) == 0 {
		return nil, nil, usageError("%s has no jobs (one JSON value per line)", file)
	}
	return out, lines, nil
}

// pushData returns the job's JSON data from the argument, --data-file or a piped stdin, checking
// that it is JSON so a typo is refused here rather than failing in a worker later.
func pushData(c *cli.Context, p *Program) (json.RawMessage, error) {
	var (
		raw    []byte
		source string
		err    error
	)
	switch file := c.String("data-file"); {
	case c.NArg() == 2:
		if file != "" {
			return nil, usageError("give the JSON data either as an argument or with --data-file, not both")
		}
		raw, source = []byte(c.Args().Get(1)), "the data argument"
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil, usageError("the data argument is empty: give JSON data such as '{}', or leave the argument out to push a job without data")
		}
	case file == "-":
		raw, err = io.ReadAll(p.Stdin)
		source = "standard input"
	case file != "":
		raw, err = os.ReadFile(file)
		source = file
	case isPipeOrFile(p.Stdin):
		raw, err = io.ReadAll(p.Stdin)
		source = "standard input"
	}
	if err != nil {
		return nil, fmt.Errorf("reading job data: %w", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("null"), nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, usageError("%s is not valid JSON: %v", source, err)
	}
	return json.RawMessage(bytes.TrimSpace(raw)), nil
}

// isPipeOrFile reports whether r is a pipe or a regular file: data someone meant to pass. A
// terminal or /dev/null is not read.
func isPipeOrFile(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeNamedPipe != 0 || st.Mode().IsRegular()
}

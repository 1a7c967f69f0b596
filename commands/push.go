package commands

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

func pushCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "push a job onto a queue and print its id (Queue::push)",
		ArgsUsage: "<job> [json-data]",
		Description: "The job is a handler name, `Name` or `Name@method`. Its data is the JSON argument, the\n" +
			"--data-file, or standard input when that is a pipe or a file.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "connection", Usage: "connection to push to (default: the config's default)"},
			&cli.StringFlag{Name: "queue", Usage: "queue to push to (default: the connection's queue)"},
			&cli.IntFlag{Name: "delay", Usage: "seconds before the job becomes available"},
			&cli.StringFlag{Name: "data-file", Usage: "read the JSON data from `FILE` (- for standard input)"},
			&cli.StringFlag{Name: "file", Usage: "push one job per line of `FILE` (JSON lines: each line is one job's data; - for standard input), in bulk where the backend can"},
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
	if file := c.String("file"); file != "" {
		if c.NArg() == 2 || c.IsSet("data-file") {
			return usageError("--file gives every job's data; do not also give data as an argument or with --data-file")
		}
		lines, err := readJSONLines(p, file)
		if err != nil {
			return err
		}
		datas = lines
	} else {
		data, err := pushData(c, p)
		if err != nil {
			return err
		}
		datas = []json.RawMessage{data}
	}

	cfg, conn, err := configAndConnection(c, c.String("connection"))
	if err != nil {
		return err
	}
	payloads := make([][]byte, len(datas))
	for i, data := range datas {
		payload := newPayload(conn, name, data)
		if n := c.Int("tries"); n > 0 {
			payload.MaxTries = &n
		}
		payload.Backoff = c.String("backoff")
		if t := c.Int("timeout"); t > 0 {
			payload.Timeout = &t
		}
		raw, err := payload.Encode()
		if err != nil {
			return err
		}
		payloads[i] = raw
	}
	priority, withPriority := uint32(0), c.IsSet("priority")
	if withPriority {
		if conn.Driver != config.DriverBeanstalkd {
			return usageError("--priority is only for beanstalkd connections; connection %s is %s", conn.Name, conn.Driver)
		}
		if c.Uint64("priority") > math.MaxUint32 {
			return usageError("--priority %d is out of range: beanstalkd priorities run from 0 (most urgent) to %d", c.Uint64("priority"), uint32(math.MaxUint32))
		}
		priority = uint32(c.Uint64("priority"))
	}
	queue := c.String("queue")
	if queue == "" {
		queue = conn.Queue
	}
	ctx, cancel := stopSignals(p)
	defer cancel()

	q, err := openQueue(ctx, conn, func(ctx context.Context, r *connectors.Reserved) error {
		return runSync(ctx, p, cfg, conn.Name, r)
	})
	if err != nil {
		return err
	}
	defer q.Close()
	delay := time.Duration(c.Int("delay")) * time.Second
	pushed := 0
	push := func(batch [][]byte) error {
		var ids []string
		var err error
		switch bulk, canBulk := q.(connectors.BulkPusher); {
		case len(batch) > 1 && canBulk && !withPriority:
			ids, err = bulk.PushBulk(ctx, queue, batch, delay)
		default:
			for _, raw := range batch {
				var id string
				if pp, ok := q.(priorityPusher); ok && withPriority {
					id, err = pp.PushPriority(ctx, queue, raw, delay, priority)
				} else {
					id, err = q.Push(ctx, queue, raw, delay)
				}
				if err != nil {
					break
				}
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			fmt.Fprintln(p.Stdout, id)
		}
		pushed += len(ids)
		return err
	}
	// Bulk pushes go in chunks, so a huge file neither builds one enormous request nor loses
	// track of what was pushed when a chunk fails.
	const chunk = 1000
	for start := 0; start < len(payloads); start += chunk {
		if err := push(payloads[start:min(start+chunk, len(payloads))]); err != nil {
			if len(payloads) > 1 {
				return fmt.Errorf("pushing %s onto %q: %d of %d jobs pushed (their ids are printed), then: %w", name, queue, pushed, len(payloads), err)
			}
			return fmt.Errorf("pushing %s onto %q: %w", name, queue, err)
		}
	}
	if len(payloads) > 1 {
		fmt.Fprintf(p.Stderr, "Pushed %d %s jobs onto the [%s] queue.\n", pushed, name, queue)
	}
	return nil
}

// newPayload builds the envelope the connection's PHP side pushes: think-queue 3's for a
// format = "think" connection, so ThinkPHP workers sharing the queue read what their own
// Queue::push writes, else Laravel's.
func newPayload(conn config.Connection, name string, data json.RawMessage) *jobs.Payload {
	if conn.Format == config.FormatThink {
		return jobs.NewThinkPayload(name, data)
	}
	return jobs.NewPayload(name, data)
}

// readJSONLines reads --file: one job's JSON data per line, blank lines skipped. Every line is
// checked before anything is pushed, so a typo on line 9,000 does not leave 8,999 jobs pushed.
func readJSONLines(p *Program, file string) ([]json.RawMessage, error) {
	var r io.Reader = p.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, usageError("--file: %v", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []json.RawMessage
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if !json.Valid(text) {
			var v any
			err := json.Unmarshal(text, &v)
			return nil, usageError("%s line %d is not valid JSON: %v (nothing was pushed)", file, line, err)
		}
		out = append(out, append(json.RawMessage(nil), text...))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(out) == 0 {
		return nil, usageError("%s has no jobs (one JSON value per line)", file)
	}
	return out, nil
}

// priorityPusher is a backend whose jobs carry a priority (beanstalkd).
type priorityPusher interface {
	PushPriority(ctx context.Context, queue string, payload []byte, delay time.Duration, priority uint32) (string, error)
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

// runSync runs a job pushed to a sync connection here and now, through the executor a worker
// uses, so tries, failures and the failed store behave the same.
func runSync(ctx context.Context, p *Program, cfg *config.Config, connName string, r *connectors.Reserved) error {
	store, err := openFailed(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	w := worker.New(worker.Deps{Handlers: registry(p, cfg), Failed: store, Report: worker.TextReporter(p.Stderr)},
		worker.Options{Connection: connName, Tries: 1})
	return w.RunOne(ctx, r)
}

package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/jobs"
)

// peekStates are the states `qctl peek` takes, as beanstalkd's peek-ready, -delayed and -buried.
var peekStates = []string{"ready", "delayed", "buried"}

func peekCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "peek",
		Usage:     "show the next ready, delayed or buried job of a beanstalkd tube without taking it",
		ArgsUsage: "<ready|delayed|buried>",
		Description: "ready: the job a worker would take next (by priority, then first in); delayed: the one due\n" +
			"first; buried: the one `qctl kick` would bring back first. Shows its id, job name, attempts\n" +
			"(reservations so far), priority, age and payload. With --json: one JSON object, or null when\n" +
			"the tube has no job in that state.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "the tube (default: the connection's queue)"},
			connectionFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print the job as one JSON object"},
		},
		Action: func(c *cli.Context) error { return runPeek(c, p) },
	}
}

// peekedJSON is `qctl peek --json`'s object.
type peekedJSON struct {
	Connection string          `json:"connection"`
	Queue      string          `json:"queue"`
	State      string          `json:"state"`
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Attempts   int             `json:"attempts"`
	Priority   uint32          `json:"priority"`
	AgeSeconds int64           `json:"age_seconds"`
	ReadyIn    *int64          `json:"ready_in_seconds,omitempty"`
	Payload    json.RawMessage `json:"payload"`
}

func runPeek(c *cli.Context, p *Program) error {
	state := c.Args().First()
	if c.NArg() != 1 || !slices.Contains(peekStates, state) {
		return usageError("peek takes one state: %s (see `qctl peek --help`)", strings.Join(peekStates, ", "))
	}
	ctx, q, conn, done, err := openBeanstalk(c, p, "peek")
	if err != nil {
		return err
	}
	defer done()
	tube := c.String("queue")
	if tube == "" {
		tube = conn.Queue
	}
	job, err := q.Peek(ctx, tube, state)
	if err != nil {
		return err
	}
	if job == nil {
		if c.Bool("json") {
			fmt.Fprintln(p.Stdout, "null")
			return nil
		}
		fmt.Fprintf(p.Stdout, "No %s jobs on tube %s.\n", state, tube)
		return nil
	}
	name := peekedName(job.Payload)
	if c.Bool("json") {
		out := peekedJSON{
			Connection: conn.Name, Queue: tube, State: state, ID: job.ID, Name: name,
			Attempts: job.Attempts, Priority: job.Priority, AgeSeconds: int64(job.Age / time.Second),
			Payload: job.Payload,
		}
		if state == "delayed" {
			left := int64(job.TimeLeft / time.Second)
			out.ReadyIn = &left
		}
		if !json.Valid(job.Payload) {
			out.Payload, _ = json.Marshal(string(job.Payload))
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(p.Stdout, "%s\n", b)
		return nil
	}
	w := p.Stdout
	fmt.Fprintf(w, "Job %s, %s on tube %s (connection %s)\n", job.ID, state, tube, conn.Name)
	fmt.Fprintf(w, "  Name:      %s\n", name)
	fmt.Fprintf(w, "  Attempts:  %d\n", job.Attempts)
	fmt.Fprintf(w, "  Priority:  %d\n", job.Priority)
	fmt.Fprintf(w, "  Age:       %s\n", job.Age)
	if state == "delayed" {
		fmt.Fprintf(w, "  Ready in:  %s\n", job.TimeLeft)
	}
	fmt.Fprintf(w, "  Payload:\n%s\n", prettyPayload(job.Payload))
	return nil
}

// peekedName is the job's name as the worker shows it (Laravel's displayName, else the job
// string), or what is wrong with a payload that is not a job.
func peekedName(payload []byte) string {
	pl, err := jobs.Decode(payload)
	switch {
	case err != nil:
		return "(not a job: " + err.Error() + ")"
	}
	return pl.ResolveName()
}

// prettyPayload indents a JSON payload; anything else is shown as it is.
func prettyPayload(payload []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(payload), "", "  "); err != nil {
		return string(payload)
	}
	return b.String()
}

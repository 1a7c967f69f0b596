package commands

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/manager"
)

func failedCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "failed",
		Usage:     "list failed jobs, newest first, or show one (queue:failed)",
		ArgsUsage: "[show <id>]",
		Description: "Lists failed jobs newest first: ID, Connection, Queue, Job, Failed At (in the config's\n" +
			"timezone) and the first line of the exception, fitted to the terminal (80 columns when\n" +
			"stdout is not one).\n" +
			"`qctl failed show <id>` prints one job's whole payload and exception.\n" +
			"--job matches the name in the payload's compact JSON (displayName, or job with or without\n" +
			"@method) inside the database; a job whose data holds the same \"job\" key and value matches too.",
		Flags: append(filterFlags(),
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "show at most this many (0 = all)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per line, for scripts"},
		),
		Action: func(c *cli.Context) error {
			if c.Args().First() == "show" {
				if c.NArg() != 2 {
					return usageError("failed show takes one failed job id")
				}
				return showFailed(c, p, c.Args().Get(1))
			}
			if c.NArg() > 0 {
				return usageError("failed takes no arguments but `show <id>` (got %q)", c.Args().Slice())
			}
			if c.Int("limit") < 0 {
				return usageError("--limit must be 0 (all) or more")
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			filter, err := readFilter(c, time.Now().In(cfg.Timezone))
			if err != nil {
				return err
			}
			filter.Limit = c.Int("limit")
			return withFailedStore(c, p, func(ctx context.Context, _ *manager.Manager, store *failed.Store) error {
				recs, total, err := store.List(ctx, filter)
				if err != nil {
					return err
				}
				left := total - int64(len(recs))
				if c.Bool("json") {
					enc := json.NewEncoder(p.Stdout)
					enc.SetEscapeHTML(false) // operators read this: keep <, > and & as they are
					for _, r := range recs {
						if err := enc.Encode(failedJSON(r)); err != nil {
							return err
						}
					}
					if left > 0 { // stdout stays JSON lines
						fmt.Fprintf(p.Stderr, "%d more failed jobs not shown (use --limit)\n", left)
					}
					return nil
				}
				if len(recs) == 0 {
					fmt.Fprintln(p.Stdout, "No failed jobs.")
					return nil
				}
				cols, _ := terminalSize(p.Stdout)
				if !isTerminal(p.Stdout) && os.Getenv("COLUMNS") == "" {
					cols = math.MaxInt32 // piped into grep or a file: every value whole
				}
				if err := writeFailedTable(p.Stdout, recs, cols); err != nil {
					return err
				}
				if left > 0 {
					fmt.Fprintf(p.Stdout, "... and %d more (use --limit)\n", left)
				}
				return nil
			})
		},
	}
}

// showFailed prints one failed job: its fields, its payload (indented when it is JSON) and its
// whole exception.
func showFailed(c *cli.Context, p *Program, id string) error {
	return withFailedStore(c, p, func(ctx context.Context, _ *manager.Manager, store *failed.Store) error {
		r, err := store.Find(ctx, id)
		if errors.Is(err, failed.ErrNotFound) {
			return withStatus(ExitError, failed.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if c.Bool("json") {
			enc := json.NewEncoder(p.Stdout)
			enc.SetEscapeHTML(false)
			full := failedJSON(*r)
			full.Exception = r.Exception
			return enc.Encode(full)
		}
		var payload bytes.Buffer
		if json.Indent(&payload, r.Payload, "", "  ") != nil {
			payload.Reset()
			payload.Write(r.Payload)
		}
		fmt.Fprintf(p.Stdout, "ID:         %s\nRow ID:     %d\nConnection: %s\nQueue:      %s\nJob:        %s\nFailed At:  %s\n\nPayload:\n%s\n\nException:\n%s\n",
			r.ID, r.RowID, r.Connection, r.Queue, failedJobName(r.Payload), r.FailedAt.Format(time.DateTime),
			strings.TrimRight(payload.String(), "\n"), strings.TrimRight(r.Exception, "\n"))
		return nil
	})
}

// failedJobName is the job's name for listings, or a marker for a payload that cannot be read.
func failedJobName(payload []byte) string {
	pl, err := jobs.Decode(payload)
	if err != nil {
		return "(unreadable payload)"
	}
	return pl.ResolveName()
}

// failedRecordJSON is one line of `failed --json`.
type failedRecordJSON struct {
	ID         string          `json:"id"`
	RowID      int64           `json:"row_id"` // the integer id --range selects by
	Connection string          `json:"connection"`
	Queue      string          `json:"queue"`
	Job        string          `json:"job"`
	FailedAt   time.Time       `json:"failed_at"` // RFC 3339 with the timezone's offset
	Exception  string          `json:"exception"` // first line; `failed show --json` gives all of it
	Payload    json.RawMessage `json:"payload,omitempty"`
	RawPayload string          `json:"raw_payload,omitempty"` // a payload that is not JSON, as text
}

func failedJSON(r failed.Record) failedRecordJSON {
	out := failedRecordJSON{
		ID: r.ID, RowID: r.RowID, Connection: r.Connection, Queue: r.Queue, Job: failedJobName(r.Payload),
		FailedAt: r.FailedAt, Exception: firstLine(r.Exception), Payload: validJSON(r.Payload),
	}
	if out.Payload == nil {
		out.RawPayload = string(r.Payload)
	}
	return out
}

func validJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	return nil
}

func forgetCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "forget",
		Usage:     "delete one failed job (queue:forget)",
		ArgsUsage: "<id>",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("forget takes one failed job id")
			}
			return withFailedStore(c, p, func(ctx context.Context, _ *manager.Manager, store *failed.Store) error {
				if err := store.Forget(ctx, c.Args().First()); err != nil {
					if errors.Is(err, failed.ErrNotFound) {
						return withStatus(ExitError, failed.ErrNotFound)
					}
					return err
				}
				fmt.Fprintln(p.Stdout, "Failed job deleted successfully.")
				return nil
			})
		},
	}
}

func flushCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:  "flush",
		Usage: "delete all failed jobs, or those older than --hours (queue:flush)",
		Description: "On a terminal, flush asks before deleting unless --force is given; when stdin is not a\n" +
			"terminal (cron, scripts) it deletes without asking. For cron, `qctl prune-failed` says what it\n" +
			"does in its name.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "hours", Usage: "only delete jobs that failed more than this many hours ago"},
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("flush takes no arguments")
			}
			hours := c.Int("hours")
			if hours < 0 {
				return usageError("--hours must be 0 (all) or more")
			}
			return withFailedStore(c, p, func(ctx context.Context, _ *manager.Manager, store *failed.Store) error {
				if !c.Bool("force") && isTerminal(p.Stdin) {
					var f failed.Filter
					if hours > 0 {
						f.Before = time.Now().Add(-time.Duration(hours) * time.Hour)
					}
					n, err := store.Count(ctx, f)
					if err != nil {
						return err
					}
					if n == 0 {
						fmt.Fprintln(p.Stdout, "No failed jobs to delete.")
						return nil
					}
					question := fmt.Sprintf("Delete all %d failed jobs?", n)
					if hours > 0 {
						question = fmt.Sprintf("Delete the %d failed jobs older than %d hours?", n, hours)
					}
					if !confirm(p.Stdin, p.Stdout, question) {
						return withStatus(ExitError, errors.New("flush cancelled: nothing was deleted"))
					}
				}
				return flushOlder(ctx, p, store, hours)
			})
		},
	}
}

// flushOlder deletes the failed jobs older than hours (all when 0) and says how many.
func flushOlder(ctx context.Context, p *Program, store *failed.Store, hours int) error {
	n, err := store.Flush(ctx, time.Duration(hours)*time.Hour)
	if err != nil {
		return err
	}
	if hours > 0 {
		fmt.Fprintf(p.Stdout, "%d failed jobs older than %d hours deleted successfully.\n", n, hours)
	} else {
		fmt.Fprintf(p.Stdout, "%d failed jobs deleted successfully.\n", n)
	}
	return nil
}

// confirm asks question on out and reads a yes from in; anything else, or end of input, is no.
func confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprintf(out, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true
	}
	return false
}

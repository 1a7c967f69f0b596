package commands

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
)

func failedCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:  "failed",
		Usage: "list failed jobs, newest first (queue:failed)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "only jobs that failed on this queue"},
			&cli.IntFlag{Name: "limit", Value: 100, Usage: "show at most this many (0 = all)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per line"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			store, err := openFailed(ctx, cfg)
			if err != nil {
				return err
			}
			defer store.Close()
			recs, total, err := store.List(ctx, failed.Filter{Queue: c.String("queue"), Limit: c.Int("limit")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(p.Stdout)
				enc.SetEscapeHTML(false) // operators read this: keep <, > and & as they are
				for _, r := range recs {
					if err := enc.Encode(failedJSON(r)); err != nil {
						return err
					}
				}
				return nil
			}
			if len(recs) == 0 {
				fmt.Fprintln(p.Stdout, "No failed jobs.")
				return nil
			}
			tw := tabwriter.NewWriter(p.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tConnection\tQueue\tJob\tFailed At")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Connection, r.Queue, failedJobName(r.Payload), r.FailedAt.UTC().Format(time.DateTime))
			}
			tw.Flush()
			if left := total - int64(len(recs)); left > 0 {
				fmt.Fprintf(p.Stdout, "... and %d more (use --limit)\n", left)
			}
			return nil
		},
	}
}

// failedJobName is the job's name for listings, or a marker for a payload that cannot be read.
func failedJobName(payload []byte) string {
	pl, err := jobs.Decode(payload)
	if err != nil {
		return "(unreadable payload)"
	}
	return jobName(pl)
}

func jobName(p *jobs.Payload) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Job
}

func failedJSON(r failed.Record) any {
	exception, _, _ := strings.Cut(r.Exception, "\n")
	return struct {
		ID         string          `json:"id"`
		Connection string          `json:"connection"`
		Queue      string          `json:"queue"`
		Job        string          `json:"job"`
		FailedAt   time.Time       `json:"failed_at"`
		Exception  string          `json:"exception"`
		Payload    json.RawMessage `json:"payload,omitempty"`
	}{r.ID, r.Connection, r.Queue, failedJobName(r.Payload), r.FailedAt.UTC(), exception, validJSON(r.Payload)}
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
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			store, err := openFailed(ctx, cfg)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.Forget(ctx, c.Args().First()); err != nil {
				if errorsIs(err, failed.ErrNotFound) {
					return withStatus(ExitError, failed.ErrNotFound)
				}
				return err
			}
			fmt.Fprintln(p.Stdout, "Failed job deleted successfully.")
			return nil
		},
	}
}

func flushCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:  "flush",
		Usage: "delete all failed jobs, or those older than --hours (queue:flush)",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "hours", Usage: "only delete jobs that failed more than this many hours ago"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			store, err := openFailed(ctx, cfg)
			if err != nil {
				return err
			}
			defer store.Close()
			n, err := store.Flush(ctx, time.Duration(c.Int("hours"))*time.Hour)
			if err != nil {
				return err
			}
			if c.Int("hours") > 0 {
				fmt.Fprintf(p.Stdout, "%d failed jobs older than %d hours deleted successfully.\n", n, c.Int("hours"))
			} else {
				fmt.Fprintf(p.Stdout, "%d failed jobs deleted successfully.\n", n)
			}
			return nil
		},
	}
}

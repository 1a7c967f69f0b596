package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/failed"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func retryCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "retry",
		Usage:     "push failed jobs back onto their connection and queue (queue:retry)",
		ArgsUsage: "<id...|all>",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "retry every failed job of this queue"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 && c.String("queue") == "" {
				return usageError("retry takes failed job ids, `all`, or --queue")
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

			var recs []failed.Record
			if c.Args().First() == "all" || c.String("queue") != "" {
				recs, _, err = store.List(ctx, failed.Filter{Queue: c.String("queue")})
				if err != nil {
					return err
				}
			} else {
				for _, id := range c.Args().Slice() {
					r, err := store.Find(ctx, id)
					if err != nil {
						fmt.Fprintf(p.Stderr, "Unable to find failed job with ID [%s].\n", id)
						continue
					}
					recs = append(recs, *r)
				}
			}
			queues := map[string]connectors.Queue{}
			defer func() {
				for _, q := range queues {
					q.Close()
				}
			}()
			var retried, refused int
			for _, r := range recs {
				q, err := retryTarget(ctx, cfg, queues, r.Connection)
				if err == nil {
					_, err = q.Push(ctx, r.Queue, resetAttempts(r.Payload), 0)
				}
				if err != nil {
					// The failed record stays: a retry never loses the job.
					fmt.Fprintf(p.Stderr, "Failed job [%s] not retried: %v\n", r.ID, err)
					refused++
					continue
				}
				if err := store.Forget(ctx, r.ID); err != nil && !errors.Is(err, failed.ErrNotFound) {
					fmt.Fprintf(p.Stderr, "Failed job [%s] was pushed but is still listed: %v\n", r.ID, err)
				}
				fmt.Fprintf(p.Stdout, "The failed job [%s] has been pushed back onto the queue!\n", r.ID)
				retried++
			}
			fmt.Fprintf(p.Stdout, "%d retried, %d not retried.\n", retried, refused)
			if refused > 0 {
				return withStatus(ExitError, fmt.Errorf("%d failed jobs could not be retried", refused))
			}
			return nil
		},
	}
}

// retryTarget opens (once) the connection a job failed on; a connection no longer in the config
// is refused for that job alone.
func retryTarget(ctx context.Context, cfg *config.Config, open map[string]connectors.Queue, name string) (connectors.Queue, error) {
	if q, ok := open[name]; ok {
		return q, nil
	}
	conn, err := cfg.Connection(name)
	if err != nil || name == "" {
		return nil, fmt.Errorf("its connection %q is not in the config (known: %v)", name, cfg.Names())
	}
	q, err := openQueue(ctx, conn, nil)
	if err != nil {
		return nil, err
	}
	open[name] = q
	return q, nil
}

// resetAttempts sets a payload's "attempts" to 0, keeping every other key and the key order, so
// the retried job gets its full tries (Redis and think-queue payloads count attempts inside).
func resetAttempts(payload []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return payload
	}
	var out bytes.Buffer
	out.WriteByte('{')
	found := false
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return payload
		}
		key, _ := keyTok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return payload
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		if key == "attempts" {
			out.WriteByte('0')
			found = true
		} else {
			out.Write(val)
		}
	}
	if !found {
		return payload
	}
	out.WriteByte('}')
	return out.Bytes()
}

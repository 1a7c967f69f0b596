package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// watchValue is --watch: a flag that works alone (every defaultWatch) or with a value
// (--watch=5s, --watch=0.5). It tells the flag package it is boolean so that --watch needs no value.
type watchValue struct {
	every time.Duration // 0 = not watching
}

const defaultWatch = 2 * time.Second

func (w *watchValue) IsBoolFlag() bool { return true }

func (w *watchValue) String() string {
	if w == nil || w.every == 0 {
		return ""
	}
	return w.every.String()
}

func (w *watchValue) Set(s string) error {
	switch s {
	case "true":
		w.every = defaultWatch
		return nil
	case "false":
		w.every = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("%q is not an interval (like 5s or 0.5)", s)
		}
		d = seconds(f)
	}
	if d < 100*time.Millisecond {
		return fmt.Errorf("%q is shorter than 100ms", s)
	}
	w.every = d
	return nil
}

// redraw shows what read returns once, or every watch.every until ctx ends (--watch), for
// `status` and `workers`: as one JSON object per read with asJSON, else through write, redrawn in
// place under the title on a terminal, or one listing after another (each under the time and
// stamp, when stamp is set) when piped. A read that fails the first time, or without --watch, is
// the command's error; later ones are printed and the watch goes on, since a backend may be away
// for a moment.
func redraw[T any](ctx context.Context, p *Program, watch *watchValue, asJSON bool, title, stamp string, read func() (T, error), write func(io.Writer, T)) error {
	terminal := isTerminal(p.Stdout) && !asJSON
	for first := true; ; first = false {
		v, err := read()
		now := time.Now().Format(time.DateTime)
		switch {
		case err != nil && ctx.Err() != nil && !first:
			return nil // interrupted while watching
		case err != nil && (first || watch.every == 0):
			return managerError(err)
		case err != nil:
			fmt.Fprintf(p.Stderr, "%s qctl: %v\n", now, err)
		case asJSON:
			enc := json.NewEncoder(p.Stdout)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return err
			}
		case watch.every > 0 && terminal:
			fmt.Fprint(p.Stdout, "\x1b[H\x1b[2J") // home, clear: redraw in place
			fmt.Fprintf(p.Stdout, "Every %s: %s    %s\n\n", watch.every, title, now)
			write(p.Stdout, v)
		case watch.every > 0:
			if !first {
				fmt.Fprintln(p.Stdout)
			}
			if stamp != "" {
				fmt.Fprintf(p.Stdout, "%s %s\n", now, stamp)
			}
			write(p.Stdout, v)
		default:
			write(p.Stdout, v)
		}
		if watch.every == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watch.every):
		}
	}
}

// queuesFlag reads --queue a,b.
func queuesFlag(c *cli.Context) []string {
	var out []string
	for _, q := range strings.Split(c.String("queue"), ",") {
		if q = strings.TrimSpace(q); q != "" {
			out = append(out, q)
		}
	}
	return out
}

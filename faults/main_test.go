package faults

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/qctl/qctl/commands"
	"github.com/qctl/qctl/jobs"
)

// TestMain lets the test binary stand in for qctl: run with QCTL_FAULTS_AS_QCTL=1 it is qctl
// with the Record handler registered, so the scenarios run real `qctl work` and `qctl listen`
// processes (and listen's `work --once` children) without building another binary.
func TestMain(m *testing.M) {
	if os.Getenv("QCTL_FAULTS_AS_QCTL") == "1" {
		signals := make(chan os.Signal, 8)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR2, syscall.SIGCONT)
		reg := jobs.NewRegistry()
		reg.Register("Record", record)
		os.Exit(commands.Run(os.Args, commands.Program{Handlers: reg, Signals: signals}))
	}
	// The test's own MySQL connections see the private MariaDB die; the driver's log of it is noise.
	mysql.SetLogger(log.New(io.Discard, "", 0))
	os.Exit(m.Run())
}

// record sleeps for its data in milliseconds, then appends "uuid unix-nanoseconds attempts pid" to
// $QCTL_FAULTS_RECORD: one write of one short line, which O_APPEND keeps whole when several
// processes append at once.
func record(ctx context.Context, j *jobs.Job) error {
	var ms int
	if err := j.Bind(&ms); err != nil {
		return err
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	f, err := os.OpenFile(os.Getenv("QCTL_FAULTS_RECORD"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %d %d %d\n", j.Payload.UUID, time.Now().UnixNano(), j.Attempts(), os.Getpid())
	return err
}

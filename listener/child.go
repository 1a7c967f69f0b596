package listener

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/qctl/qctl/connectors"
)

// child is one `work --once` process. Its goroutines are the waiter, two output relays and the
// report reader; the listener's goroutine only calls signal and reads the result channel.
type child struct {
	slot    int
	cmd     *exec.Cmd
	started time.Time
	result  chan childResult
	gate    *os.File      // writing a byte lets the child pop; closing it unread makes it exit
	opened  chan struct{} // closed when the gate opens: --timeout counts from then
	once    sync.Once
}

// open lets the child pop its job.
func (c *child) open() {
	c.once.Do(func() {
		if c.gate != nil {
			_, _ = c.gate.Write([]byte{1})
			c.gate.Close()
		}
		close(c.opened)
	})
}

// cancel tells a child still waiting at its gate to exit without popping.
func (c *child) cancel() {
	c.once.Do(func() {
		if c.gate != nil {
			c.gate.Close()
		}
	})
}

// childResult is how a child ended.
type childResult struct {
	slot     int
	child    *child
	status   int                  // exit status; -1 when killed by a signal
	reserved bool                 // it reserved a job
	open     *connectors.Reserved // a reservation it never finished, to release
	killed   string               // why the listener killed it, "" if it did not
	runtime  time.Duration
	err      error // it could not be started
}

// spawn starts a child for slot and supervises it until it exits; the result arrives on the
// returned child's channel.
func (l *Listener) spawn(slot int) *child {
	c := &child{slot: slot, result: make(chan childResult, 1), opened: make(chan struct{})}
	args := append(append([]string{}, l.opts.GlobalArgs...), "work")
	args = append(args, l.opts.WorkArgs...)
	args = append(args, "--once", "--name", fmt.Sprintf("%s-%d", l.opts.Name, slot))
	c.cmd = exec.Command(l.opts.Executable, args...)
	// A session of its own: the listener can then kill the child and everything under it,
	// including exec handlers, which each run in a process group of their own.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	c.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", ReportFDEnv, reportFD), fmt.Sprintf("%s=%d", GateFDEnv, gateFD))

	fail := func(err error) *child {
		c.result <- childResult{child: c, slot: slot, status: -1, err: err}
		return c
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	c.gate = gateW
	defer gateR.Close() // the child has its copy once started
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fail(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return fail(err)
	}
	c.cmd.Stdout, c.cmd.Stderr, c.cmd.ExtraFiles = outW, errW, []*os.File{repW, gateR}
	c.started = l.now()
	startErr := c.cmd.Start()
	// The child has its own copies now; ours must close so the readers see EOF when it is done.
	outW.Close()
	errW.Close()
	repW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		repR.Close()
		gateW.Close()
		return fail(fmt.Errorf("starting %s: %w", l.opts.Executable, startErr))
	}

	var readers sync.WaitGroup
	readers.Add(3)
	go func() { defer readers.Done(); l.relay(slot, outR, l.stdout) }()
	go func() { defer readers.Done(); l.relay(slot, errR, l.stderr) }()
	var (
		mu       sync.Mutex
		reserved bool
		open     *connectors.Reserved
	)
	go func() {
		defer readers.Done()
		defer repR.Close()
		dec := json.NewDecoder(repR)
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				return
			}
			if m.Event != nil {
				e := *m.Event
				e.Duration, e.Delay = time.Duration(m.DurationNS), time.Duration(m.DelayNS)
				l.observe(e)
				continue
			}
			mu.Lock()
			if m.Done {
				open = nil
			} else {
				reserved, open = true, m.Job
			}
			mu.Unlock()
		}
	}()

	go func() {
		exited := make(chan error, 1)
		go func() { exited <- c.cmd.Wait() }()
		killed := l.watchChild(c, exited)
		waitErr := <-exited
		if killed != "" {
			killSession(c.cmd.Process.Pid) // anything it left behind
		}
		readers.Wait()
		c.cancel() // a child that died at its gate: nothing left to open
		res := childResult{child: c, slot: slot, killed: killed, runtime: l.now().Sub(c.started)}
		res.status = exitStatus(waitErr)
		mu.Lock()
		res.reserved, res.open = reserved, open
		mu.Unlock()
		c.result <- res
	}()
	return c
}

// watchChild enforces --timeout and --memory on a running child. It returns once the child has
// exited (leaving the exit on the channel for the caller) or been killed, with the kill reason.
func (l *Listener) watchChild(c *child, exited chan error) string {
	tick := time.NewTicker(l.opts.SampleEvery)
	defer tick.Stop()
	var deadline <-chan time.Time
	opened := c.opened
	for {
		select {
		case <-opened:
			opened = nil
			if l.opts.Timeout > 0 {
				t := time.NewTimer(l.opts.Timeout)
				defer t.Stop()
				deadline = t.C
			}
		case err := <-exited:
			exited <- err // give it back to the caller
			return ""
		case <-deadline:
			killSession(c.cmd.Process.Pid)
			return fmt.Sprintf("ran past --timeout (%s)", l.opts.Timeout)
		case <-tick.C:
			if l.opts.Memory == 0 {
				continue
			}
			if rss := residentBytes(c.cmd.Process.Pid); rss > l.opts.Memory {
				killSession(c.cmd.Process.Pid)
				return fmt.Sprintf("used %d MB, over --memory (%d MB)", rss>>20, l.opts.Memory>>20)
			}
		}
	}
}

// relay copies a child's output line by line, so lines of different children never interleave,
// labelled with the child's slot when several run at once.
func (l *Listener) relay(slot int, r io.ReadCloser, w io.Writer) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	label := ""
	if l.opts.Processes > 1 && !l.opts.JSON {
		label = fmt.Sprintf("[%d] ", slot)
	}
	for sc.Scan() {
		l.outMu.Lock()
		fmt.Fprintf(w, "%s%s\n", label, sc.Bytes())
		l.outMu.Unlock()
	}
}

// signal forwards sig to the child process itself (not its exec handlers, which its worker owns).
func (c *child) signal(sig os.Signal) {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(sig)
	}
}

func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return -1
}

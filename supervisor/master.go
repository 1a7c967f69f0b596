// Package supervisor is `qctl supervise`: a master process that keeps pools of `qctl work`
// children running, one pool per [supervisors.NAME] section, and moves processes between a pool's
// queues as their load changes, as Laravel Horizon's master and supervisors do.
//
// One goroutine (Run's) owns every child and every count; child output is read by a goroutine per
// pipe, which only forwards lines and reports run times back through a channel. A child is a real
// `qctl work` process in a process group of its own, so a signal to the master's terminal group
// does not reach it: the master decides when children stop.
package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/qctl/qctl/worker"
)

// Pool is one supervisor: its children's connection, queues, options and scaling rules.
type Pool struct {
	Name       string
	Connection string   // passed to each child as its [connection] argument; "" for the default
	Queues     []string // strict priority order
	Scaling    Scaling
	// ByTime weighs each queue's ready jobs by their average run time ("time" strategy).
	ByTime   bool
	Cooldown time.Duration // between two rebalances
	// WorkArgs are the options every child gets (--tries, --backoff, --timeout, --memory, ...).
	WorkArgs []string
	// Memory is the resident size past which the master recycles a child that did not stop
	// itself (a child checks its own --memory only between jobs); 0 = no limit.
	Memory uint64
	// FleetMax bounds the pool's children across every master running it (fleet_max_processes);
	// 0 = no bound. It needs a Registry for the pool's connection.
	FleetMax int
}

// Registry is one connection's worker registry as the master uses it (manager.Registration):
// a listener's (its own entry, the requests addressed to it) and the fleet's live entries, for
// fleet_max_processes.
type Registry interface {
	worker.Registry
	Live(ctx context.Context) ([]worker.Info, error)
}

// Options configure a Master.
type Options struct {
	// Executable and GlobalArgs start a child: Executable GlobalArgs... work ...
	Executable string
	GlobalArgs []string
	Pools      []Pool
	// Load returns the ready jobs of each queue of pool, for "auto"; an error skips a rebalance.
	Load func(ctx context.Context, pool *Pool) (map[string]int64, error)
	// Stdout receives the children's job lines; Stderr the master's own lines and the children's
	// stderr.
	Stdout, Stderr io.Writer
	// Tick is how often the master looks at its children; 0 means 500ms.
	Tick time.Duration
	// Memory reads a process's resident size in bytes (0 when it cannot); nil means /proc.
	Memory func(pid int) uint64

	// ID names the master in the registry and on its children (--master); Host is its machine.
	ID, Host string
	// Registries are the registries of the pools' connections, by Pool.Connection; a pool whose
	// connection has none runs unregistered (and cannot have a FleetMax).
	Registries map[string]Registry
	// Beat is the time between the master's heartbeats; 0 means worker.DefaultHeartbeat. Its
	// entry expires after three missed beats.
	Beat time.Duration
	// ChildArgs are extra flags for every child (--heartbeat, --host in tests).
	ChildArgs []string
	Version   string
}

// Master runs the pools until Stop.
type Master struct {
	o     Options
	stop  chan struct{}
	once  sync.Once
	exits chan exit
	runs  chan jobRun
	pools []*pool
	log   *logger

	started  time.Time
	paused   bool // a hold is set on the master: its children pop nothing (state only)
	stopping bool // draining
	beatFail bool // the last beat failed: report the next failure after a success
}

type pool struct {
	Pool
	children     map[string][]*child // by queue; "" holds balance "off"'s single pool
	want         map[string]int
	lastBalance  time.Time
	failures     int       // consecutive children that failed soon after starting
	notBefore    time.Time // no child starts before this (backoff after failures)
	runtime      map[string]time.Duration
	seq          int
	loggedFailed bool

	stopped    bool      // qctl terminate --supervisor: no child starts any more
	claim      int       // fleet slots this master holds for the pool (FleetMax); >= its children
	claimRetry time.Time // no claim before this, after two masters collided
	loggedFull bool
}

type child struct {
	queue    string
	name     string
	cmd      *exec.Cmd
	started  time.Time
	stopping bool
}

type exit struct {
	c    *child
	p    *pool
	code int
}

type jobRun struct {
	p     *pool
	queue string
	took  time.Duration
}

// New returns a master; Run starts it.
func New(o Options) *Master {
	if o.Tick == 0 {
		o.Tick = 500 * time.Millisecond
	}
	if o.Memory == nil {
		o.Memory = residentBytes
	}
	if o.Beat <= 0 {
		o.Beat = worker.DefaultHeartbeat
	}
	m := &Master{o: o, stop: make(chan struct{}), exits: make(chan exit, 16), runs: make(chan jobRun, 256), log: &logger{w: o.Stderr}}
	for _, p := range o.Pools {
		m.pools = append(m.pools, &pool{Pool: p, children: map[string][]*child{}, runtime: map[string]time.Duration{}})
	}
	return m
}

// Stop asks Run to stop every child gracefully (each finishes its jobs) and return once all have
// exited. It is safe to call more than once and before Run.
func (m *Master) Stop() { m.once.Do(func() { close(m.stop) }) }

// Run starts the pools and keeps them balanced until Stop, then waits for every child to exit.
func (m *Master) Run(ctx context.Context) error {
	for _, p := range m.pools {
		p.want = m.initial(p)
		m.log.printf("Supervisor [%s] on queues [%s]: %s", p.Name, strings.Join(p.Queues, ","), describe(p.want, p.Queues))
	}
	m.started = time.Now()
	defer m.leave()
	if m.beat(ctx) {
		return m.drain(ctx)
	}
	tick := time.NewTicker(m.o.Tick)
	defer tick.Stop()
	beat := time.NewTicker(m.o.Beat)
	defer beat.Stop()
	for {
		select {
		case <-m.stop:
			return m.drain(ctx)
		case <-ctx.Done():
			return m.drain(ctx)
		case e := <-m.exits:
			m.exited(e)
		case r := <-m.runs:
			m.ran(r)
		case <-beat.C:
			if m.beat(ctx) {
				return m.drain(ctx)
			}
		case now := <-tick.C:
			active := 0
			for _, p := range m.pools {
				if p.stopped {
					continue
				}
				active++
				m.rebalance(ctx, p, now)
				m.reconcile(ctx, p, now)
				m.checkMemory(p)
			}
			if active == 0 {
				m.log.printf("Every supervisor was terminated: stopping")
				return m.drain(ctx)
			}
		}
	}
}

// initial is a pool's first plan: "off" has its whole pool on every queue, the others start at
// what a pool with no load gets.
func (m *Master) initial(p *pool) map[string]int {
	if p.Scaling.Balance == "off" {
		return map[string]int{"": p.Scaling.Max}
	}
	return Plan(p.Queues, nil, nil, p.Scaling)
}

// rebalance recomputes an "auto" pool's plan once per cooldown.
func (m *Master) rebalance(ctx context.Context, p *pool, now time.Time) {
	if p.Scaling.Balance != "auto" || now.Sub(p.lastBalance) < p.Cooldown || m.o.Load == nil {
		return
	}
	p.lastBalance = now
	sizes, err := m.o.Load(ctx, &p.Pool)
	if err != nil {
		m.log.printf("Supervisor [%s]: cannot read queue sizes, keeping %s: %v", p.Name, describe(p.want, p.Queues), err)
		return
	}
	load := map[string]float64{}
	for q, n := range sizes {
		load[q] = float64(n)
		if p.ByTime {
			load[q] *= max(p.runtime[q].Seconds(), 0.001) // an unmeasured queue counts 1ms a job
		}
	}
	cur := map[string]int{}
	for _, q := range p.Queues {
		cur[q] = p.alive(q)
	}
	next := Plan(p.Queues, cur, load, p.Scaling)
	if !sameCounts(next, p.want) {
		m.log.printf("Supervisor [%s] scaled: %s (ready: %s)", p.Name, describe(next, p.Queues), describeSizes(sizes, p.Queues))
	}
	p.want = next
}

// reconcile starts and stops children until each queue has what the plan says, within the
// pool's fleet slots.
func (m *Master) reconcile(ctx context.Context, p *pool, now time.Time) {
	for _, q := range sortedKeys(p.want) {
		alive := p.alive(q)
		for ; alive > p.want[q]; alive-- {
			c := p.newest(q)
			c.stopping = true
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	if p.FleetMax > 0 {
		m.claim(ctx, p, now)
	}
	for _, q := range sortedKeys(p.want) {
		alive := p.alive(q)
		for ; alive < p.want[q] && !now.Before(p.notBefore) && (p.FleetMax == 0 || p.total() < p.claim); alive++ {
			if err := m.start(p, q); err != nil {
				m.log.printf("Supervisor [%s]: cannot start a worker: %v", p.Name, err)
				p.notBefore = now.Add(backoff(p.failures + 1))
				p.failures++
				return
			}
		}
	}
}

// checkMemory recycles a child past the pool's memory limit.
func (m *Master) checkMemory(p *pool) {
	if p.Memory == 0 {
		return
	}
	for _, cs := range p.children {
		for _, c := range cs {
			if rss := m.o.Memory(c.cmd.Process.Pid); !c.stopping && rss > p.Memory {
				m.log.printf("Worker %d of [%s] uses %d MB, over its limit: recycling it", c.cmd.Process.Pid, p.Name, rss>>20)
				c.stopping = true
				_ = c.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
	}
}

// start runs one child on queue q ("" = every queue of the pool).
func (m *Master) start(p *pool, q string) error {
	queues := q
	if q == "" {
		queues = strings.Join(p.Queues, ",")
	}
	p.seq++
	name := fmt.Sprintf("%s-%d", p.Name, p.seq)
	args := append(append([]string{}, m.o.GlobalArgs...), "work")
	if p.Connection != "" {
		args = append(args, p.Connection)
	}
	args = append(args, "--queue", queues, "--json", "--name", name)
	if m.o.ID != "" {
		args = append(args, "--master", m.o.ID, "--supervisor", p.Name)
	}
	args = append(args, p.WorkArgs...)
	args = append(args, m.o.ChildArgs...)
	cmd := exec.Command(m.o.Executable, args...)
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = m.o.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	c := &child{queue: q, name: name, cmd: cmd, started: time.Now()}
	p.children[q] = append(p.children[q], c)
	m.log.printf("Started worker %d (%s) on [%s]", cmd.Process.Pid, name, queues)
	go m.relay(p, stdout)
	go func() {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		m.exits <- exit{c: c, p: p, code: code}
	}()
	return nil
}

// relay prints a child's job events as the master's lines and reports each job's run time.
func (m *Master) relay(p *pool, r io.Reader) {
	report := worker.TextReporter(m.o.Stdout)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct {
			worker.Event
			DurationMS *float64 `json:"duration_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Fprintln(m.o.Stdout, sc.Text())
			continue
		}
		if e.DurationMS != nil {
			e.Duration = time.Duration(*e.DurationMS * float64(time.Millisecond))
			select {
			case m.runs <- jobRun{p: p, queue: e.Queue, took: e.Duration}:
			default: // the master is busy; one sample less does not matter
			}
		}
		report(e.Event)
	}
}

// ran folds one job's run time into its queue's moving average.
func (m *Master) ran(r jobRun) {
	if avg, ok := r.p.runtime[r.queue]; ok {
		r.p.runtime[r.queue] = (avg*7 + r.took) / 8
	} else {
		r.p.runtime[r.queue] = r.took
	}
}

// exited forgets a child that ended; one that failed soon after starting delays the next start
// of its pool, so a dead backend does not make the master spin.
func (m *Master) exited(e exit) {
	cs := e.p.children[e.c.queue]
	for i, c := range cs {
		if c == e.c {
			e.p.children[e.c.queue] = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	ran := time.Since(e.c.started)
	if ran > 10*time.Second {
		e.p.failures = 0 // a worker that ran a while ends a run of quick failures
	}
	switch {
	case e.c.stopping:
	case e.code == 0 || e.code == 12 || e.code == 13: // restart, max-time, memory, stuck handler
		m.log.printf("Worker %d (%s) exited %d: replacing it", e.c.cmd.Process.Pid, e.c.name, e.code)
	default:
		e.p.failures++
		wait := backoff(e.p.failures)
		e.p.notBefore = time.Now().Add(wait)
		m.log.printf("Worker %d (%s) exited %d after %s: replacing it in %s", e.c.cmd.Process.Pid, e.c.name, e.code, ran.Round(time.Millisecond), wait)
	}
}

// drain stops every child gracefully and waits for all of them, beating meanwhile so the
// master stays listed (as stopping) while its children finish their jobs.
func (m *Master) drain(ctx context.Context) error {
	m.stopping = true
	left := 0
	for _, p := range m.pools {
		for _, cs := range p.children {
			for _, c := range cs {
				c.stopping = true
				_ = c.cmd.Process.Signal(syscall.SIGTERM)
				left++
			}
		}
	}
	m.log.printf("Stopping %d workers: each finishes its jobs first", left)
	beat := time.NewTicker(m.o.Beat)
	defer beat.Stop()
	m.beat(context.WithoutCancel(ctx))
	for left > 0 {
		select {
		case e := <-m.exits:
			m.exited(e)
			left--
		case <-beat.C:
			m.beat(context.WithoutCancel(ctx))
		}
	}
	m.log.printf("Every worker stopped.")
	return nil
}

// stopPool stops a supervisor's children gracefully and starts no more of them.
func (m *Master) stopPool(p *pool) {
	p.stopped = true
	p.want = map[string]int{}
	n := 0
	for _, cs := range p.children {
		for _, c := range cs {
			if !c.stopping {
				c.stopping = true
				_ = c.cmd.Process.Signal(syscall.SIGTERM)
				n++
			}
		}
	}
	m.log.printf("Supervisor [%s] terminated: stopping its %d workers after their jobs", p.Name, n)
}

// total is every child of the pool, stopping ones included: each is a process until it exits.
func (p *pool) total() int {
	n := 0
	for _, cs := range p.children {
		n += len(cs)
	}
	return n
}

func (p *pool) wantTotal() int {
	n := 0
	for _, w := range p.want {
		n += w
	}
	return n
}

func (p *pool) alive(q string) int {
	n := 0
	for _, c := range p.children[q] {
		if !c.stopping {
			n++
		}
	}
	return n
}

func (p *pool) newest(q string) *child {
	var newest *child
	for _, c := range p.children[q] {
		if !c.stopping && (newest == nil || c.started.After(newest.started)) {
			newest = c
		}
	}
	return newest
}

// backoff is the wait before starting a pool's next child after n failures in a row.
func backoff(n int) time.Duration {
	return min(time.Second<<min(n-1, 5), 30*time.Second)
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func describe(want map[string]int, queues []string) string {
	if n, ok := want[""]; ok {
		return fmt.Sprintf("%d processes on every queue", n)
	}
	parts := make([]string, 0, len(queues))
	for _, q := range queues {
		parts = append(parts, fmt.Sprintf("%s=%d", q, want[q]))
	}
	return strings.Join(parts, " ")
}

func describeSizes(sizes map[string]int64, queues []string) string {
	parts := make([]string, 0, len(queues))
	for _, q := range queues {
		parts = append(parts, fmt.Sprintf("%s=%d", q, sizes[q]))
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// logger writes the master's own lines, one at a time, with a timestamp.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s\n", time.Now().Format(time.DateTime), fmt.Sprintf(format, args...))
}

// residentBytes reads pid's resident set size from /proc, or 0.
func residentBytes(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * uint64(os.Getpagesize())
}

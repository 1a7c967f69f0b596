package supervisor

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/qctl/qctl/worker"
)

// This file is the master in the fleet registry: its own entry (one per connection its pools
// use), the requests operators address to it (terminate, pause, terminate --supervisor), and the
// fleet-wide bound fleet_max_processes.
//
// # fleet_max_processes
//
// Every master holds, per bounded pool, a claim: a number of slots written in its registry entry,
// never fewer than its children of that pool (stopping ones included). A master raises its claim
// before it starts children, in three steps: it writes the higher claim, then reads every entry
// back, then keeps the claim only if its claim plus the others' (each other master's claim, or its
// listed children when they are more, plus children whose master's entry is gone) fits the bound;
// otherwise it writes its old claim back and tries again after a random part of a beat. The store
// (one Redis server, one database) is linearizable, so of two masters raising at once the one
// that reads last sees the other's written claim: both cannot take the last slot. A claim is
// lowered only once the children above it have exited. The other masters' counts are as fresh as
// their last write, so the bound is exact for claims and eventually consistent (one heartbeat)
// for an entry that expired: a master killed with -9 stops counting when its entry expires,
// while its children (TERMed by the kernel) still finish their jobs, still counted by their own
// entries.

// entryID is the master's registry id on connection conn: its id, suffixed by the connection
// when its pools use several (two connections may share one store).
func (m *Master) entryID(conn string) string {
	if len(m.o.Registries) <= 1 {
		return m.o.ID
	}
	if conn == "" {
		conn = "default"
	}
	return m.o.ID + "/" + conn
}

// conns are the connections with a registry, in a stable order.
func (m *Master) conns() []string {
	var out []string
	for conn := range m.o.Registries {
		out = append(out, conn)
	}
	slices.Sort(out)
	return out
}

// entry is the master's registry entry on connection conn.
func (m *Master) entry(conn string) worker.Info {
	now := time.Now()
	in := worker.Info{
		ID: m.entryID(conn), Kind: worker.KindMaster, Master: m.o.ID, Host: m.o.Host, PID: os.Getpid(),
		Name: "supervise", Connection: conn, State: worker.StateRunning, Running: []worker.RunningJob{},
		MemoryBytes: m.o.Memory(os.Getpid()), StartedAt: m.started, BeatAt: now,
		HeartbeatS: m.o.Beat.Seconds(), Version: m.o.Version,
	}
	switch {
	case m.stopping:
		in.State = worker.StateStopping
	case m.paused:
		in.State = worker.StatePaused
	}
	for _, p := range m.pools {
		if p.Connection != conn {
			continue
		}
		in.Children += p.total()
		if !p.stopped {
			in.Supervisors = append(in.Supervisors, p.Name)
		}
		if p.FleetMax > 0 {
			if in.Claims == nil {
				in.Claims = map[string]int{}
			}
			in.Claims[p.Name] = max(p.claim, p.total())
		}
	}
	return in
}

func (m *Master) put(ctx context.Context, conn string) error {
	return m.o.Registries[conn].Put(ctx, m.entry(conn), 3*m.o.Beat)
}

// beat reads the requests addressed to the master, acts on them, lowers the claims it no longer
// needs and writes its entries. It reports whether the master was asked to terminate.
func (m *Master) beat(ctx context.Context) bool {
	if len(m.o.Registries) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*max(m.o.Beat, time.Second))
	defer cancel()
	var errs []error
	terminate, paused := false, false
	for _, conn := range m.conns() {
		if !m.stopping {
			var names []string
			for _, p := range m.pools {
				if p.Connection == conn && !p.stopped {
					names = append(names, p.Name)
				}
			}
			req, err := m.o.Registries[conn].Requests(ctx, m.entryID(conn), m.o.ID, names)
			errs = append(errs, err)
			terminate = terminate || req.Terminate
			paused = paused || req.Paused
			for _, p := range m.pools {
				if p.Connection == conn && !p.stopped && slices.Contains(req.Stop, p.Name) {
					m.stopPool(p)
				}
			}
		}
		for _, p := range m.pools {
			if floor := max(p.total(), p.wantTotal()); p.Connection == conn && p.claim > floor {
				p.claim = floor // the children above it have exited
			}
		}
		errs = append(errs, m.put(ctx, conn))
	}
	m.paused = paused
	if err := errors.Join(errs...); err != nil && !m.beatFail {
		m.log.printf("Registry heartbeat failed (terminate, pause and fleet_max_processes wait until it works): %v", err)
	}
	m.beatFail = errors.Join(errs...) != nil
	if terminate {
		m.log.printf("qctl terminate asked this master to stop")
	}
	return terminate
}

// leave removes the master's entries: a clean exit leaves the registry at once.
func (m *Master) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, conn := range m.conns() {
		if err := m.o.Registries[conn].Remove(ctx, m.entryID(conn)); err != nil {
			m.log.printf("Leaving the registry (the entry expires by itself): %v", err)
		}
	}
}

// claim raises the pool's fleet slots towards what its plan wants, within FleetMax across every
// master (see the comment at the top of this file).
func (m *Master) claim(ctx context.Context, p *pool, now time.Time) {
	desired := p.wantTotal()
	reg := m.o.Registries[p.Connection]
	if desired <= p.claim || now.Before(p.claimRetry) || reg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*max(m.o.Beat, time.Second))
	defer cancel()
	retry := func() { p.claimRetry = now.Add(time.Duration(rand.Int64N(int64(m.o.Beat)))) }
	others, err := m.others(ctx, reg, p.Name)
	if err != nil {
		m.log.printf("Supervisor [%s]: cannot read the registry for fleet_max_processes, starting no worker: %v", p.Name, err)
		retry()
		return
	}
	target := min(desired, p.FleetMax-others)
	if target <= p.claim {
		if !p.loggedFull {
			m.log.printf("Supervisor [%s]: fleet_max_processes %d reached (%d run elsewhere): running %d of %d", p.Name, p.FleetMax, others, p.claim, desired)
			p.loggedFull = true
		}
		p.claimRetry = now.Add(m.o.Beat / 2) // read the registry again in half a beat, not every tick
		return
	}
	old := p.claim
	p.claim = target
	if err := m.put(ctx, p.Connection); err != nil {
		p.claim = old
		m.log.printf("Supervisor [%s]: cannot claim fleet slots: %v", p.Name, err)
		retry()
		return
	}
	others, err = m.others(ctx, reg, p.Name)
	if err == nil && others+target <= p.FleetMax {
		p.loggedFull = false
		return
	}
	// Another master raised its claim meanwhile: give ours back and try again later.
	p.claim = old
	_ = m.put(ctx, p.Connection) // if it fails, the higher claim only keeps others back until the next beat
	retry()
}

// others counts the slots of supervisor name held by every other master: its claim, or its
// listed children of that supervisor when they are more, plus listed children whose master's
// entry is gone.
func (m *Master) others(ctx context.Context, reg Registry, name string) (int, error) {
	live, err := reg.Live(ctx)
	if err != nil {
		return 0, err
	}
	masters := map[string]worker.Info{}
	for _, in := range live {
		if in.Kind == worker.KindMaster && in.Master != m.o.ID {
			masters[in.Master] = in
		}
	}
	kids := map[string]int{}
	n := 0
	for _, in := range live {
		if in.Kind != worker.KindWorker || in.Supervisor != name || in.Master == m.o.ID {
			continue
		}
		if _, ok := masters[in.Master]; ok {
			kids[in.Master]++
		} else {
			n++
		}
	}
	for id, in := range masters {
		n += max(in.Claims[name], kids[id])
	}
	return n, nil
}

package supervisor

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/worker"
)

// memRegistry is a registry in memory, linearizable as one Redis server or database is, with a
// hook run before each Live of one master: it lets a test interleave two masters' claims.
type memRegistry struct {
	mu         sync.Mutex
	entries    map[string]worker.Info
	beforeLive map[string]func() // by master id, run once
	beforePut  map[string]func() // by master id, run once
}

func (r *memRegistry) Put(_ context.Context, in worker.Info, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[in.ID] = in
	return nil
}

func (r *memRegistry) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entries, id)
	return nil
}

func (r *memRegistry) Live(context.Context) ([]worker.Info, error) {
	return r.snapshot(), nil
}

func (r *memRegistry) snapshot() []worker.Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []worker.Info
	for _, in := range r.entries {
		out = append(out, in)
	}
	return out
}

func (r *memRegistry) Requests(context.Context, string, string, []string) (worker.Requests, error) {
	return worker.Requests{}, nil
}

// hooked is the registry as master id sees it: its reads run the hook first.
type hooked struct {
	*memRegistry
	id string
}

func (h hooked) Put(ctx context.Context, in worker.Info, ttl time.Duration) error {
	h.mu.Lock()
	f := h.beforePut[h.id]
	delete(h.beforePut, h.id)
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.memRegistry.Put(ctx, in, ttl)
}

func (h hooked) Live(ctx context.Context) ([]worker.Info, error) {
	h.mu.Lock()
	f := h.beforeLive[h.id]
	delete(h.beforeLive, h.id)
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.memRegistry.Live(ctx)
}

func newClaimer(id string, reg Registry, fleetMax int) (*Master, *pool) {
	m := New(Options{ID: id, Host: id, Registries: map[string]Registry{"": reg}, Stderr: io.Discard, Stdout: io.Discard,
		Pools: []Pool{{Name: "web", Queues: []string{"a"}, Scaling: Scaling{Balance: "off", Max: 3}, FleetMax: fleetMax}}})
	p := m.pools[0]
	p.want = map[string]int{"": 3}
	return m, p
}

// Two masters raising their claims at once cannot both take the last slots: the one that checks
// last sees the other's written claim and gives its own back (or holds back when it reads the
// other's claim first); the slots a master's beat gives back go to the other.
func TestFleetClaimsCollideSafely(t *testing.T) {
	ctx := context.Background()
	reg := &memRegistry{entries: map[string]worker.Info{}, beforeLive: map[string]func(){}, beforePut: map[string]func(){}}
	a, pa := newClaimer("A", hooked{reg, "A"}, 3)
	b, pb := newClaimer("B", hooked{reg, "B"}, 3)
	now := time.Now()
	// A reads the registry empty; before A writes, B reads, writes and checks: B takes 3 slots.
	reg.beforePut["A"] = func() { b.claim(ctx, pb, now) }
	a.claim(ctx, pa, now)
	if pa.claim+pb.claim > 3 {
		t.Fatalf("claims %d + %d pass fleet_max_processes 3", pa.claim, pb.claim)
	}
	if pb.claim != 3 || pa.claim != 0 {
		t.Fatalf("claims A=%d B=%d; want B, who checked first, to keep 3", pa.claim, pb.claim)
	}
	if in := reg.entries["A"]; in.Claims["web"] != 0 {
		t.Fatalf("A left its refused claim in the registry: %+v", in.Claims)
	}

	// B reads after A wrote its claim but before A checks it: B holds back, A keeps its 3.
	reg.entries = map[string]worker.Info{}
	a, pa = newClaimer("A", hooked{reg, "A"}, 3)
	b, pb = newClaimer("B", hooked{reg, "B"}, 3)
	// A's first read sees nothing; A writes 3; A's second read first lets B read (sees A's 3).
	reg.beforeLive["A"] = func() {
		reg.beforeLive["A"] = func() { b.claim(ctx, pb, now) }
	}
	a.claim(ctx, pa, now)
	if pa.claim != 3 || pb.claim != 0 {
		t.Fatalf("claims A=%d B=%d; want A, who wrote first, to keep 3", pa.claim, pb.claim)
	}
	pa.want = map[string]int{"": 1}
	a.beat(ctx) // A needs 1 now: B may take 2

	b.claim(ctx, pb, now.Add(time.Minute))
	if pa.claim != 1 || pb.claim != 2 {
		t.Fatalf("after A lowered its claim to 1: A=%d B=%d; want B to take the 2 freed slots", pa.claim, pb.claim)
	}
}

// A claim counts a master's listed children when they are more than its claim, and children
// whose master's entry is gone.
func TestFleetOthersCountsChildrenBeyondClaims(t *testing.T) {
	ctx := context.Background()
	reg := &memRegistry{entries: map[string]worker.Info{
		"B":  {ID: "B", Kind: worker.KindMaster, Master: "B", Supervisors: []string{"web"}, Claims: map[string]int{"web": 1}},
		"b1": {ID: "b1", Master: "B", Supervisor: "web"},
		"b2": {ID: "b2", Master: "B", Supervisor: "web"},
		"o1": {ID: "o1", Master: "gone", Supervisor: "web"},
		"x":  {ID: "x", Master: "B", Supervisor: "other"},
		"s":  {ID: "s"},
	}}
	a, _ := newClaimer("A", reg, 5)
	n, err := a.others(ctx, reg, "web")
	if err != nil || n != 3 {
		t.Fatalf("others = %d, %v; want 3 (B's 2 children over its claim of 1, 1 orphan)", n, err)
	}
}

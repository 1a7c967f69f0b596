package dbqueue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestFlagLastsItsWholeTTL: a flag set for a second, late in a second, still counts a whole
// second later (expirations are whole unix seconds, so they are rounded up from now). It counted
// only until the next whole second: `pause --for=1` set at 12.95 s ended at 13.
func TestFlagLastsItsWholeTTL(t *testing.T) {
	now := time.Unix(1_800_000_012, 950_000_000)
	f, err := OpenFleet(context.Background(), "sqlite", filepath.Join(t.TempDir(), "fleet.db"), true,
		FleetOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	if err := f.SetFlag(ctx, "k", "b:1;", time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Duration
		want string
	}{{0, "b:1;"}, {500 * time.Millisecond, "b:1;"}, {950 * time.Millisecond, "b:1;"}, {1050 * time.Millisecond, ""}} {
		now = time.Unix(1_800_000_012, 950_000_000).Add(c.at)
		got, err := f.Flags(ctx, []string{"k"})
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != c.want {
			t.Errorf("%s after setting it for 1s, the flag reads %q, want %q", c.at, got[0], c.want)
		}
	}
}

package commands

import (
	"slices"
	"testing"
)

func TestInterspersedArgs(t *testing.T) {
	app := newApp(&Program{})
	for _, c := range []struct{ in, want []string }{
		// A subcommand's flags move in front of its positional arguments.
		{[]string{"qctl", "work", "redis", "--queue=high"}, []string{"qctl", "work", "--queue=high", "--", "redis"}},
		// A global flag after the subcommand moves in front of the subcommand, with its value.
		{[]string{"qctl", "work", "--config", "prod.toml", "redis"}, []string{"qctl", "--config", "prod.toml", "work", "--", "redis"}},
		{[]string{"qctl", "status", "redis", "-c", "prod.toml", "--json"}, []string{"qctl", "-c", "prod.toml", "status", "--json", "--", "redis"}},
		{[]string{"qctl", "--no-ansi", "failed", "--config=x.toml"}, []string{"qctl", "--no-ansi", "--config=x.toml", "failed"}},
		// A subcommand's own flag of that name stays its own (retry -v is --verbose).
		{[]string{"qctl", "retry", "all", "-v"}, []string{"qctl", "retry", "-v", "--", "all"}},
		// After --, nothing moves.
		{[]string{"qctl", "push", "--", "X", "--config", "y"}, []string{"qctl", "push", "--", "X", "--config", "y"}},
	} {
		if got := interspersed(app, c.in); !slices.Equal(got, c.want) {
			t.Errorf("interspersed(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

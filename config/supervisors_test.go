package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSupervisors(t *testing.T) {
	cfg, err := Parse([]byte(`
[connections.redis]
driver = "redis"
queue = "mail"

[supervisors.web]
queues = ["high", "low"]
balance = "auto"
min_processes = 1
max_processes = 6
fleet_max_processes = 10
balance_max_shift = 2
balance_cooldown = 5
auto_scaling_strategy = "size"
tries = 3
backoff = [1, 5, 10]
timeout = 30
memory = 256
concurrency = 4

[supervisors.plain]
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	want := Supervisor{Name: "web", Queues: []string{"high", "low"}, Balance: BalanceAuto, MinProcesses: 1, MaxProcesses: 6, FleetMax: 10,
		BalanceMaxShift: 2, BalanceCooldown: 5 * time.Second, AutoScalingStrategy: ScaleBySize, Tries: 3,
		Backoff: []time.Duration{time.Second, 5 * time.Second, 10 * time.Second}, Timeout: 30 * time.Second, Memory: 256,
		Sleep: 3 * time.Second, Concurrency: 4}
	if got := cfg.Supervisors["web"]; !reflect.DeepEqual(got, want) {
		t.Errorf("web = %+v\nwant %+v", got, want)
	}
	plain := cfg.Supervisors["plain"]
	if !reflect.DeepEqual(plain.Queues, []string{"mail"}) || plain.Balance != BalanceAuto || plain.MaxProcesses != 1 || plain.AutoScalingStrategy != ScaleByTime {
		t.Errorf("defaults: %+v", plain)
	}

	_, err = Parse([]byte(`
[connections.redis]
driver = "redis"

[supervisors.bad]
connection = "nope"
queues = ["a", "a"]
balance = "sometimes"
max_processes = 0
fleet_max_processes = 0
workers = 3
`), func(string) (string, bool) { return "", false })
	for _, want := range []string{
		`supervisors.bad.connection: no connection named "nope" (known: redis)`,
		`supervisors.bad.queues[1]: empty or repeated queue name "a"`,
		`supervisors.bad.balance: unknown balance "sometimes" (want one of: off, simple, auto)`,
		`supervisors.bad.max_processes: must be between 1 and 32767, got 0`,
		`supervisors.bad.workers: unknown key`,
		`supervisors.bad.fleet_max_processes: must be between 1 and 32767, got 0`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

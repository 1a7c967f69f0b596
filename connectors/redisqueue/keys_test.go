package redisqueue

import (
	"errors"
	"testing"
)

func TestKeyNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  keys
		want keys
	}{
		{"laravel", laravelKeys("laravel_database_", "emails", false), keys{
			"laravel_database_queues:emails", "laravel_database_queues:emails:delayed",
			"laravel_database_queues:emails:reserved", "laravel_database_queues:emails:notify", "laravel_database_qctl:retried:emails"}},
		{"laravel no prefix", laravelKeys("", "default", false), keys{
			"queues:default", "queues:default:delayed", "queues:default:reserved", "queues:default:notify", "qctl:retried:default"}},
		{"laravel cluster tags the name", laravelKeys("laravel_database_", "default", true), keys{
			"laravel_database_queues:{default}", "laravel_database_queues:{default}:delayed",
			"laravel_database_queues:{default}:reserved", "laravel_database_queues:{default}:notify", "laravel_database_qctl:retried:{default}"}},
		{"laravel cluster keeps a tagged name", laravelKeys("p_", "{default}", true), keys{
			"p_queues:{default}", "p_queues:{default}:delayed", "p_queues:{default}:reserved", "p_queues:{default}:notify", "p_qctl:retried:{default}"}},
		{"laravel cluster keeps a tagged prefix", laravelKeys("{app}:", "default", true), keys{
			"{app}:queues:default", "{app}:queues:default:delayed", "{app}:queues:default:reserved", "{app}:queues:default:notify", "{app}:qctl:retried:default"}},
		{"think", thinkKeys("", "default"), keys{"{queues:default}", "{queues:default}:delayed", "{queues:default}:reserved", "", "qctl:retried:{queues:default}"}},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, tc.got, tc.want)
		}
		if len(tc.got.list()) != 3 && tc.got.notify == "" {
			t.Errorf("%s: list() = %v", tc.name, tc.got.list())
		}
	}
	if got := restartKey(FormatLaravel, "laravel_database_", "laravel_cache_"); got != "laravel_database_laravel_cache_:illuminate:queue:restart" {
		t.Errorf("laravel restart key = %q", got)
	}
	if got := restartKey(FormatThink, "", ""); got != "think:queue:restart" {
		t.Errorf("think restart key = %q", got)
	}
}

func TestSlotString(t *testing.T) {
	for key, want := range map[string]string{
		"queues:{default}:delayed": "default",
		"{queues:default}:delayed": "queues:default",
		"queues:default":           "queues:default",
		"{}queues:{x}":             "{}queues:{x}", // empty tag: the whole key
		"a{b":                      "a{b",
		"a{b}{c}":                  "b",
	} {
		if got := slotString(key); got != want {
			t.Errorf("slotString(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestCrossSlotRefused(t *testing.T) {
	for _, tc := range []struct{ prefix, name string }{
		{"{}", "default"}, // an empty tag in the prefix hides every later tag
		{"", ""},          // "queues:{}" is an empty tag
	} {
		err := checkSlots(tc.name, laravelKeys(tc.prefix, tc.name, true))
		if !errors.Is(err, ErrCrossSlot) {
			t.Errorf("prefix %q queue %q: checkSlots = %v, want ErrCrossSlot", tc.prefix, tc.name, err)
		}
	}
	for _, name := range []string{"default", "a}b", "{x}", "x{", "emails:high"} {
		if err := checkSlots(name, laravelKeys("laravel_database_", name, true)); err != nil {
			t.Errorf("queue %q: %v", name, err)
		}
		if err := checkSlots(name, thinkKeys("", name)); err != nil {
			t.Errorf("think queue %q: %v", name, err)
		}
	}
}

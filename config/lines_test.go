package config

import "testing"

func TestIndexLines(t *testing.T) {
	src := `# comment with key = 1
default = "x"
a.b = 1
[connections.redis]
driver = "redis" # trailing = comment
"quoted.key" = 2
'lit' . sub = 3
text = """
fake = 1
"""
after = 'x'
[ handlers . "App\\Jobs\\X" ]
command = ["a",
  "b = c",
]
[[list]]
item = 1
s = "\"unbalanced"
t = '''one line'''
u = 1
`
	ix := indexLines(src)
	tests := []struct {
		path []string
		want int
	}{
		{[]string{"default"}, 2},
		{[]string{"a"}, 3},
		{[]string{"a", "b"}, 3},
		{[]string{"connections"}, 4},
		{[]string{"connections", "redis"}, 4},
		{[]string{"connections", "redis", "driver"}, 5},
		{[]string{"connections", "redis", "quoted.key"}, 6},
		{[]string{"connections", "redis", "lit", "sub"}, 7},
		{[]string{"connections", "redis", "text"}, 8},
		{[]string{"connections", "redis", "fake"}, 4}, // inside a multi-line string: falls back to the table
		{[]string{"connections", "redis", "after"}, 11},
		{[]string{"connections", "redis", "missing"}, 4},
		{[]string{"handlers", `App\Jobs\X`}, 12},
		{[]string{"handlers", `App\Jobs\X`, "command"}, 13},
		{[]string{"handlers", `App\Jobs\X`, "b"}, 12},
		{[]string{"list", "item"}, 17},
		{[]string{"list", "u"}, 20},
		{[]string{"nowhere"}, 0},
	}
	for _, tt := range tests {
		if got := ix.find(tt.path); got != tt.want {
			t.Errorf("find(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
}

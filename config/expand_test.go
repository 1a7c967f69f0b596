package config

import "testing"

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "alpha", "EMPTY": "", "B": "b"})
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x${A}y${B}z", want: "xalphaybz"},
		{in: "${A:-x}", want: "alpha"},
		{in: "${UNSET:-x}", want: "x"},
		{in: "${EMPTY:-x}", want: "x"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET}", want: ""},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-host=db port=5432}", want: "host=db port=5432"},
		{in: "${UNSET:-a:-b}", want: "a:-b"},
		{in: "$$", want: "$$"},
		{in: "$A $ {A} $", want: "$A $ {A} $"},
		{in: "$${A}", want: "$alpha"},
		{in: "${A}}", want: "alpha}"},
		{in: "${_x9}", want: ""},
		{in: "${A", err: `unterminated "${" in "${A" (missing "}")`},
		{in: "ok ${A} then ${B:-x", err: `unterminated "${" in "${B:-x" (missing "}")`},
		{in: "${}", err: `bad variable name in "${}" (want ${NAME} or ${NAME:-default})`},
		{in: "${A-x}", err: `bad variable name in "${A-x}" (want ${NAME} or ${NAME:-default})`},
		{in: "${9A}", err: `bad variable name in "${9A}" (want ${NAME} or ${NAME:-default})`},
		{in: "${:-x}", err: `bad variable name in "${:-x}" (want ${NAME} or ${NAME:-default})`},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, env)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("expand(%q) error = %v", tt.in, err)
		case tt.err == "" && got != tt.want:
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestExpandDoesNotRecurse checks that a value is inserted as is, never expanded again, so an
// environment value cannot pull in other variables.
func TestExpandDoesNotRecurse(t *testing.T) {
	got, err := expand("${A}", envOf(map[string]string{"A": "${B}", "B": "no"}))
	if err != nil || got != "${B}" {
		t.Errorf("expand = %q, %v; want ${B} inserted literally", got, err)
	}
}

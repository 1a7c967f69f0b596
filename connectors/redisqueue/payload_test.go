package redisqueue

import (
	"encoding/json"
	"regexp"
	"testing"
)

var alnum32 = regexp.MustCompile(`^[0-9A-Za-z]{32}$`)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if !alnum32.MatchString(id) || seen[id] {
			t.Fatalf("newID = %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestWithIDAndAttempts(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want with ID standing for the generated id
		keepID   string
	}{
		{`{"job":"A","data":{"attempts":5,"id":"nested"}}`, `{"job":"A","data":{"attempts":5,"id":"nested"},"id":"ID","attempts":0}`, ""},
		{`{}`, `{"id":"ID","attempts":0}`, ""},
		{" { } \n", ` { "id":"ID","attempts":0} ` + "\n", ""},
		{`{"id":"given","job":"A"}`, `{"id":"given","job":"A","attempts":0}`, "given"},
		{`{"job":"A","attempts":3}`, `{"job":"A","attempts":3,"id":"ID"}`, ""},
		{`{"id":"k","attempts":2}`, `{"id":"k","attempts":2}`, "k"},
		{`{"\u0069d":"esc","job":"A"}`, `{"\u0069d":"esc","job":"A","attempts":0}`, "esc"},
		{`{"id":12,"job":"A"}`, `{"id":12,"job":"A","attempts":0}`, "12"},
	} {
		out, id := withIDAndAttempts([]byte(tc.in))
		if tc.keepID != "" && id != tc.keepID {
			t.Errorf("%s: id = %q, want %q", tc.in, id, tc.keepID)
		}
		if tc.keepID == "" && !alnum32.MatchString(id) {
			t.Errorf("%s: id = %q, want 32 alphanumerics", tc.in, id)
		}
		want := regexp.MustCompile(`"ID"`).ReplaceAllString(tc.want, `"`+id+`"`)
		if string(out) != want {
			t.Errorf("withIDAndAttempts(%s) = %s, want %s", tc.in, out, want)
		}
		if !json.Valid(out) {
			t.Errorf("%s: result is not JSON: %s", tc.in, out)
		}
	}
	for _, in := range []string{`not json`, `[1,2]`, `"s"`, `{"a":}`, `{"a":1}}`, ``, `12`} {
		out, id := withIDAndAttempts([]byte(in))
		if string(out) != in || id != "" {
			t.Errorf("withIDAndAttempts(%q) = %q, %q; want it unchanged with no id", in, out, id)
		}
	}
}

func TestInspectNeverPanics(t *testing.T) {
	for _, in := range []string{`{`, `{"`, `{"a`, `{"a"`, `{"a":`, `{"a":"`, `{"a":{`, `{"a":[}`, `{"a":1,`, `{"a":1 x}`, `{"id":"x\`} {
		if env := inspect([]byte(in)); env.object {
			t.Errorf("inspect(%q) took it for an object", in)
		}
	}
	if id := payloadID([]byte(`{"job":"A","id":"abc","attempts":1}`)); id != "abc" {
		t.Errorf("payloadID = %q", id)
	}
}

func FuzzInspectAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"id":"a","attempts":1}`, `{"a":[{"id":1}],"id":"x"}`, `{"a":"}\"","id":"q"}`, `[]`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		var m map[string]json.RawMessage
		isObject := json.Unmarshal([]byte(s), &m) == nil && m != nil
		env := inspect([]byte(s))
		if env.object != isObject {
			t.Fatalf("inspect(%q).object = %v, want %v", s, env.object, isObject)
		}
		if !isObject {
			return
		}
		_, hasAttempts := m["attempts"]
		if env.hasAttempts != hasAttempts || (m["id"] != nil) != (env.id != nil) {
			t.Fatalf("inspect(%q) = %+v, want attempts %v id %s", s, env, hasAttempts, m["id"])
		}
		out, _ := withIDAndAttempts([]byte(s))
		var back map[string]json.RawMessage
		if err := json.Unmarshal(out, &back); err != nil || back["id"] == nil || back["attempts"] == nil {
			t.Fatalf("withIDAndAttempts(%q) = %s (%v)", s, out, err)
		}
	})
}

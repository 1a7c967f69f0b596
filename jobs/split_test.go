package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// objectFieldsReference is the json.Decoder-based splitter objectFields replaced; it splits a valid JSON object into its members in document order.
func objectFieldsReference(obj []byte) ([]extraField, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, err
	}
	var fields []extraField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		fields = append(fields, extraField{key: key, value: value})
	}
	return fields, nil
}

// TestObjectFieldsMatchesReference checks the one-pass splitter against encoding/json on payloads
// of every shape the wire formats produce, and on awkward JSON.
func TestObjectFieldsMatchesReference(t *testing.T) {
	cases := []string{
		`{}`, ` { } `,
		`{"uuid":"a","displayName":"X","job":"X@handle","maxTries":null,"data":{"a":[1,2,{"b":"}"}],"c":"\"{["},"id":"abc","attempts":0}`,
		`{"job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{"commandName":"App\\Jobs\\X","command":"O:8:\"stdClass\":0:{}"}}`,
		"{\n \"job\" : \"A\" ,\n\t\"n\": -1.5e3 , \"t\":true,\"f\":false,\"z\":null, \"e\": [] , \"o\": {} }",
		`{"k\u00e9y":"v","a\"b":1,"job":"\u4e2d\u6587 \ud83d\ude00"}`,
		`{"job":"x","job":"y"}`,
	}
	for _, c := range cases {
		checkAgainstReference(t, []byte(c))
	}
}

func FuzzObjectFields(f *testing.F) {
	f.Add([]byte(`{"job":"A","data":{"x":[1,"]",{"y":null}]},"attempts":3}`))
	f.Add([]byte(`{"a\"":"\\","b":[[[]]],"c":0.5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || len(bytes.TrimSpace(b)) == 0 || bytes.TrimSpace(b)[0] != '{' {
			return
		}
		checkAgainstReference(t, b)
	})
}

func checkAgainstReference(t *testing.T, b []byte) {
	t.Helper()
	got, err := objectFields(b)
	want, werr := objectFieldsReference(b)
	if (err != nil) != (werr != nil) {
		t.Fatalf("%s: error %v, reference %v", b, err, werr)
	}
	if fmt.Sprint(fieldStrings(got)) != fmt.Sprint(fieldStrings(want)) {
		t.Fatalf("%s:\n got  %q\n want %q", b, fieldStrings(got), fieldStrings(want))
	}
}

func fieldStrings(fs []extraField) []string {
	var out []string
	for _, f := range fs {
		var compact bytes.Buffer
		_ = json.Compact(&compact, f.value)
		out = append(out, f.key+"="+compact.String())
	}
	return out
}

// TestDecodeStringMatchesUnmarshal checks decodeString's copy of plain strings against
// encoding/json on strings with and without escapes, non-ASCII text and invalid UTF-8.
func TestDecodeStringMatchesUnmarshal(t *testing.T) {
	cases := []string{`""`, `"App\\Jobs\\X"`, `"plain"`, `"caf\u00e9 中文 😀"`, "\"caf\xc3\xa9\"", "\"bad \xff\xfe bytes\"",
		`"tab\tquote\"slash\/ \b\f\n\r\\ end\\"`, `"\\"`, `"\"\""`, "\"caf\xc3\xa9 \\\\ \\n\"", `"\ud83d\ude00"`, `"\ud800 lone"`, `"9f0b3c1e-7c1a-4f0e-9e1f-2b4c6d8e0a1b"`}
	for _, c := range cases {
		var want string
		if err := json.Unmarshal([]byte(c), &want); err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		got, err := decodeString(extraField{key: "job", value: json.RawMessage(c)})
		if err != nil || got != want {
			t.Errorf("decodeString(%q) = %q, %v; want %q", c, got, err, want)
		}
	}
}

// BenchmarkDecode is the worker's per-job parse of a Laravel payload as qctl pushes it.
func BenchmarkDecode(b *testing.B) {
	raw, _ := NewPayload("App\\Jobs\\Noop", []byte(`{"n":1}`)).Encode()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDecodeString(f *testing.F) {
	f.Add([]byte(`"App\\Jobs\\X \u00e9 \n"`))
	f.Add([]byte("\"\xff\\t\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		var want string
		if !json.Valid(b) || len(b) == 0 || b[0] != '"' || valueEnd(b, 0) != len(b) || json.Unmarshal(b, &want) != nil {
			return // objectFields hands decodeString one whole string value, nothing around it
		}
		if got, err := decodeString(extraField{key: "job", value: b}); err != nil || got != want {
			t.Fatalf("decodeString(%q) = %q, %v; want %q", b, got, err, want)
		}
	})
}

package jobs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureCommand returns data.command of a payload that real Laravel wrote (testdata/laravel).
func fixtureCommand(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Data struct {
			Command string `json:"command"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p.Data.Command
}

// TestSerializedObjectRoundTripsPHPOutput: every object PHP serialized for the fixtures, closures
// and references included, comes back byte for byte when nothing is changed.
func TestSerializedObjectRoundTripsPHPOutput(t *testing.T) {
	paths, _ := filepath.Glob("testdata/laravel/*.json")
	if len(paths) == 0 {
		t.Fatal("no fixtures")
	}
	for _, path := range paths {
		command := fixtureCommand(t, path)
		if strings.HasPrefix(command, "C:") {
			continue // a class's own format: only its properties could be edited, and it has none
		}
		o, err := ParseSerializedObject([]byte(command))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		got, err := o.Bytes()
		if err != nil || string(got) != command {
			t.Errorf("%s: Bytes() = %q, %v\nwant %q", path, got, err, command)
		}
	}
}

// TestSerializedObjectSetMovesReferences: replacing a property with a value of more slots moves
// the references after it; a reference into a replaced value is refused, not left dangling.
func TestSerializedObjectSetMovesReferences(t *testing.T) {
	command := fixtureCommand(t, "testdata/laravel/references.json")
	// Slots: 1 the object, 2 first (Item), 3 sku, 4 qty, 5 second (r:2), 6 value; alias is R:6.
	o, err := ParseSerializedObject([]byte(command))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Set("second", PHPStringList([]string{"a", "b"})); err != nil {
		t.Fatal(err)
	}
	got, err := o.Bytes()
	want := `O:10:"References":4:{s:5:"first";O:4:"Item":2:{s:3:"sku";s:4:"SAME";s:6:"` + "\x00*\x00" + `qty";i:1;}` +
		`s:6:"second";a:2:{i:0;s:1:"a";i:1;s:1:"b";}s:5:"value";s:6:"shared";s:5:"alias";R:8;}`
	if err != nil || string(got) != want {
		t.Fatalf("Bytes() = %q, %v\nwant %q", got, err, want)
	}

	o, _ = ParseSerializedObject([]byte(command))
	_ = o.Set("first", PHPNull()) // second (r:2) pointed into it
	if _, err := o.Bytes(); !errors.Is(err, ErrPHPEdit) {
		t.Errorf("a reference into a replaced value: %v, want ErrPHPEdit", err)
	}

	// A value moved from another object keeps its own references, renumbered.
	src, _ := ParseSerializedObject([]byte(`O:1:"A":2:{s:1:"x";i:1;s:1:"p";a:2:{i:0;O:1:"B":0:{}i:1;r:4;}}`))
	pair, _ := src.Get("p")
	dst, _ := ParseSerializedObject([]byte(`O:1:"C":1:{s:1:"y";N;}`))
	if err := dst.Set("p", pair); err != nil {
		t.Fatal(err)
	}
	got, err = dst.Bytes()
	if want := `O:1:"C":2:{s:1:"y";N;s:1:"p";a:2:{i:0;O:1:"B":0:{}i:1;r:4;}}`; err != nil || string(got) != want {
		t.Errorf("moved value: %q, %v; want %q", got, err, want)
	}
	x, _ := src.Get("x")
	if err := dst.Set("y", x); err != nil {
		t.Errorf("a scalar from elsewhere: %v", err)
	}
}

func TestPHPValueReaders(t *testing.T) {
	o, err := ParseSerializedObject([]byte(`O:1:"J":4:{s:7:"chained";a:2:{i:0;s:3:"O:1";i:1;s:4:"b` + "\x00" + `;c";}s:5:"queue";s:4:"high";s:5:"tries";i:3;s:10:"connection";N;}`))
	if err != nil {
		t.Fatal(err)
	}
	chained, _ := o.Get("chained")
	list, ok := chained.Strings()
	if !ok || len(list) != 2 || list[0] != "O:1" || list[1] != "b\x00;c" {
		t.Errorf("Strings() = %q, %v", list, ok)
	}
	q, _ := o.Get("queue")
	if s, ok := q.String(); !ok || s != "high" {
		t.Errorf("String() = %q, %v", s, ok)
	}
	tries, _ := o.Get("tries")
	if n, ok := tries.Int(); !ok || n != 3 {
		t.Errorf("Int() = %d, %v", n, ok)
	}
	conn, _ := o.Get("connection")
	if !conn.IsNull() {
		t.Errorf("connection is not null")
	}
}

package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// This file edits a PHP-serialized object without understanding all of it, so qctl can do what
// Laravel does to a job object (set the chain on the next job of a chain) and hand the result back
// to PHP intact. Only the members it replaces are rewritten; every other byte, including
// closures, nested objects and classes with their own serializer (C:), is copied as it was, and
// the numbers of r: and R: references are moved when a replaced member changes how many values
// precede them.

// ErrPHPEdit is wrapped by every error of SerializedObject.
var ErrPHPEdit = errors.New("cannot edit the serialized PHP object")

// SerializedObject is a PHP object as serialize() wrote it (O:...), opened for editing its
// top-level properties. Properties are named as PHP programmers name them: the visibility marks
// of protected and private names are not part of the name.
type SerializedObject struct {
	Class string
	props []serializedProp
}

// serializedProp is one top-level property: its key as serialized and its value, with the slot
// number (PHP's numbering of values for references) its value started at.
type serializedProp struct {
	key   []byte // the key as written, e.g. s:7:"chained";
	name  string // unmangled
	value PHPValue
	// replaced is set when Set gave the property a value from elsewhere, or added it.
	replaced bool
}

// PHPValue is one serialized value cut out of a larger serialization. Its references (r:, R:)
// are numbered as in the text it came from, which first records.
type PHPValue struct {
	raw   []byte
	first int // slot number of the value's first value in its source; 0 for a fresh value
	slots int // how many slots it takes
	refs  []phpRef
}

// phpRef is one r:N; or R:N; inside a value: where its digits are (offsets in raw) and N.
type phpRef struct {
	start, end int
	n          int
}

// Raw returns the value's serialized bytes.
func (v PHPValue) Raw() []byte { return v.raw }

// IsNull reports whether the value is PHP null.
func (v PHPValue) IsNull() bool { return string(v.raw) == "N;" }

// String returns the value of a serialized string (s:len:"...";), any bytes at all.
func (v PHPValue) String() (string, bool) {
	r := &phpScanner{src: v.raw}
	if len(v.raw) < 2 || v.raw[0] != 's' {
		return "", false
	}
	r.pos = 2
	s, err := r.strValue()
	if err != nil || r.pos != len(v.raw) {
		return "", false
	}
	return s, true
}

// Int returns the value of a serialized int.
func (v PHPValue) Int() (int64, bool) {
	if len(v.raw) < 4 || v.raw[0] != 'i' || v.raw[1] != ':' || v.raw[len(v.raw)-1] != ';' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v.raw[2:len(v.raw)-1]), 10, 64)
	return n, err == nil
}

// Bool returns the value of a serialized bool.
func (v PHPValue) Bool() (value, ok bool) {
	switch string(v.raw) {
	case "b:1;":
		return true, true
	case "b:0;":
		return false, true
	}
	return false, false
}

// Members returns the values of a serialized array, in order, without its keys.
func (v PHPValue) Members() ([]PHPValue, bool) {
	if len(v.raw) < 2 || v.raw[0] != 'a' || v.raw[1] != ':' {
		return nil, false
	}
	r := &phpScanner{src: v.raw, pos: 2, slot: v.first}
	n, err := r.count(':')
	if err != nil || r.expect("{") != nil || n > len(v.raw) {
		return nil, false
	}
	out := make([]PHPValue, 0, n)
	for i := 0; i < n; i++ {
		if _, err := r.key(); err != nil {
			return nil, false
		}
		m, err := r.cut()
		if err != nil {
			return nil, false
		}
		out = append(out, m)
	}
	if r.expect("}") != nil || r.pos != len(v.raw) {
		return nil, false
	}
	return out, true
}

// Strings returns the members of a serialized array of strings (such as Laravel's chained, a
// list of serialized jobs), in order.
func (v PHPValue) Strings() ([]string, bool) {
	members, ok := v.Members()
	if !ok {
		return nil, false
	}
	out := make([]string, len(members))
	for i, m := range members {
		if out[i], ok = m.String(); !ok {
			return nil, false
		}
	}
	return out, true
}

// PHPNull, PHPString and PHPStringList build fresh values for Set.
func PHPNull() PHPValue { return PHPValue{raw: []byte("N;"), slots: 1} }

// PHPString is a PHP string holding s.
func PHPString(s string) PHPValue {
	return PHPValue{raw: appendPHPString(nil, s), slots: 1}
}

// PHPStringList is a PHP list (keys 0..n-1) of strings.
func PHPStringList(items []string) PHPValue {
	b := []byte("a:" + strconv.Itoa(len(items)) + ":{")
	for i, s := range items {
		b = append(b, "i:"+strconv.Itoa(i)+";"...)
		b = appendPHPString(b, s)
	}
	return PHPValue{raw: append(b, '}'), slots: 1 + len(items)}
}

func appendPHPString(b []byte, s string) []byte {
	b = append(b, "s:"+strconv.Itoa(len(s))+`:"`...)
	b = append(b, s...)
	return append(b, `";`...)
}

// ParseSerializedObject opens src, which must hold exactly one serialized object (O:).
func ParseSerializedObject(src []byte) (*SerializedObject, error) {
	r := &phpScanner{src: src, slot: 1} // the object itself is slot 1
	if !bytes.HasPrefix(src, []byte("O:")) {
		return nil, fmt.Errorf("%w: it does not start with O:", ErrPHPEdit)
	}
	r.pos = 2
	class, err := r.str()
	if err != nil {
		return nil, fmt.Errorf("%w: class name: %v", ErrPHPEdit, err)
	}
	o := &SerializedObject{Class: class}
	if err := r.expect(":"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPHPEdit, err)
	}
	n, err := r.count(':')
	if err == nil {
		err = r.expect("{")
	}
	for i := 0; err == nil && i < n; i++ {
		keyStart := r.pos
		var name string
		if name, err = r.key(); err != nil {
			break
		}
		key := src[keyStart:r.pos]
		var v PHPValue
		if v, err = r.cut(); err == nil {
			unmangled, _ := unmangle(name)
			o.props = append(o.props, serializedProp{key: key, name: unmangled, value: v})
		}
	}
	if err == nil {
		err = r.expect("}")
	}
	if err == nil && r.pos != len(src) {
		err = fmt.Errorf("%d bytes after the object", len(src)-r.pos)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v (at byte %d)", ErrPHPEdit, class, err, r.pos)
	}
	return o, nil
}

// Get returns the property called name.
func (o *SerializedObject) Get(name string) (PHPValue, bool) {
	for _, p := range o.props {
		if p.name == name {
			return p.value, true
		}
	}
	return PHPValue{}, false
}

// Set replaces the property called name with v, or adds it as a public property. v may come from
// another serialization (Get on another object): its references are renumbered, and one that
// points outside v is an error, since what it points at is not copied.
func (o *SerializedObject) Set(name string, v PHPValue) error {
	for _, r := range v.refs {
		if r.n < v.first || r.n >= v.first+v.slots {
			return fmt.Errorf("%w: the new %s refers to a value outside itself", ErrPHPEdit, name)
		}
	}
	for i := range o.props {
		if o.props[i].name == name {
			o.props[i].value, o.props[i].replaced = v, true
			return nil
		}
	}
	o.props = append(o.props, serializedProp{key: appendPHPString(nil, name), name: name, value: v, replaced: true})
	return nil
}

// Bytes serializes the object again. Values kept as they were have their references moved to
// where their targets now are; a reference into a replaced value is an error, because PHP would
// read a different value there.
func (o *SerializedObject) Bytes() ([]byte, error) {
	// Old slot number -> new, for the slots of kept values; slot 1 is the object.
	moved := map[int]int{1: 1}
	next := 2
	for _, p := range o.props {
		if !p.replaced {
			for j := 0; j < p.value.slots; j++ {
				moved[p.value.first+j] = next + j
			}
		}
		next += p.value.slots
	}
	out := []byte("O:" + strconv.Itoa(len(o.Class)) + `:"` + o.Class + `":` + strconv.Itoa(len(o.props)) + ":{")
	next = 2
	for _, p := range o.props {
		out = append(out, p.key...)
		var err error
		if p.replaced {
			out, err = p.value.appendMoved(out, func(n int) (int, bool) { return n - p.value.first + next, true })
		} else {
			out, err = p.value.appendMoved(out, func(n int) (int, bool) { m, ok := moved[n]; return m, ok })
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: property %s: %v", ErrPHPEdit, o.Class, p.name, err)
		}
		next += p.value.slots
	}
	return append(out, '}'), nil
}

// appendMoved appends v's bytes with every reference number mapped by move.
func (v PHPValue) appendMoved(dst []byte, move func(int) (int, bool)) ([]byte, error) {
	at := 0
	for _, r := range v.refs {
		n, ok := move(r.n)
		if !ok {
			return nil, fmt.Errorf("a reference to value %d, which was replaced", r.n)
		}
		dst = append(dst, v.raw[at:r.start]...)
		dst = strconv.AppendInt(dst, int64(n), 10)
		at = r.end
	}
	return append(dst, v.raw[at:]...), nil
}

// phpScanner walks serialized values without decoding them, counting slots as PHP's
// unserializer numbers them (every value but R: and array keys; see phpserial.go) and noting
// where references are.
type phpScanner struct {
	src  []byte
	pos  int
	slot int // slots used so far
	refs []phpRef
}

// cut scans one value and returns it with its references relative to its own bytes.
func (r *phpScanner) cut() (PHPValue, error) {
	start, first, nrefs := r.pos, r.slot+1, len(r.refs)
	if err := r.skip(0); err != nil {
		return PHPValue{}, err
	}
	v := PHPValue{raw: r.src[start:r.pos], first: first, slots: r.slot + 1 - first}
	for _, ref := range r.refs[nrefs:] {
		v.refs = append(v.refs, phpRef{start: ref.start - start, end: ref.end - start, n: ref.n})
	}
	return v, nil
}

// skip moves past one value.
func (r *phpScanner) skip(depth int) error {
	if depth > maxPHPDepth {
		return fmt.Errorf("nested more than %d levels deep", maxPHPDepth)
	}
	if r.pos+1 >= len(r.src) {
		return errors.New("the text ends where a value should start")
	}
	tag := r.src[r.pos]
	if tag == 'N' && r.src[r.pos+1] == ';' {
		r.pos += 2
		r.slot++
		return nil
	}
	if r.src[r.pos+1] != ':' {
		return fmt.Errorf("no value starts with %q", r.src[r.pos:r.pos+2])
	}
	r.pos += 2
	switch tag {
	case 'R', 'r':
		start := r.pos
		n, err := r.count(';')
		if err != nil {
			return err
		}
		r.refs = append(r.refs, phpRef{start: start, end: r.pos - 1, n: n})
		if tag == 'r' {
			r.slot++
		}
		return nil
	case 'b', 'i', 'd':
		r.slot++
		_, err := r.upTo(';')
		return err
	case 's', 'E':
		r.slot++
		_, err := r.strValue()
		return err
	case 'a':
		r.slot++
		return r.members(depth)
	case 'O':
		r.slot++
		if _, err := r.str(); err != nil {
			return err
		}
		if err := r.expect(":"); err != nil {
			return err
		}
		return r.members(depth)
	case 'C': // C:len:"Class":len:{data}: the class's own format, opaque and one slot
		r.slot++
		if _, err := r.str(); err != nil {
			return err
		}
		if err := r.expect(":"); err != nil {
			return err
		}
		n, err := r.count(':')
		if err != nil {
			return err
		}
		if err := r.expect("{"); err != nil {
			return err
		}
		if n > len(r.src)-r.pos {
			return errors.New("C: data is cut short")
		}
		r.pos += n
		return r.expect("}")
	}
	return fmt.Errorf("unsupported value type %q", tag)
}

// members moves past `n:{key value ...}`.
func (r *phpScanner) members(depth int) error {
	n, err := r.count(':')
	if err != nil {
		return err
	}
	if err := r.expect("{"); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if _, err := r.key(); err != nil {
			return err
		}
		if err := r.skip(depth + 1); err != nil {
			return err
		}
	}
	return r.expect("}")
}

// key reads an array key or property name (i:N; or s:len:"...";), which takes no slot.
func (r *phpScanner) key() (string, error) {
	if r.pos+1 >= len(r.src) || r.src[r.pos+1] != ':' {
		return "", errors.New("want a key")
	}
	tag := r.src[r.pos]
	r.pos += 2
	switch tag {
	case 'i':
		return r.upTo(';')
	case 's':
		return r.strValue()
	}
	return "", fmt.Errorf("a key must be an int or a string, not %q", tag)
}

// str reads `len:"bytes"` after a tag: a string's or a class name's.
func (r *phpScanner) str() (string, error) {
	n, err := r.count(':')
	if err != nil {
		return "", err
	}
	if err := r.expect(`"`); err != nil {
		return "", err
	}
	if n > len(r.src)-r.pos {
		return "", errors.New("a string is cut short")
	}
	s := string(r.src[r.pos : r.pos+n])
	r.pos += n
	return s, r.expect(`"`)
}

// strValue reads the rest of s:len:"bytes"; (or E:'s) after its tag.
func (r *phpScanner) strValue() (string, error) {
	s, err := r.str()
	if err != nil {
		return "", err
	}
	return s, r.expect(";")
}

func (r *phpScanner) upTo(end byte) (string, error) {
	i := bytes.IndexByte(r.src[r.pos:], end)
	if i < 0 {
		return "", fmt.Errorf("no closing %q", end)
	}
	s := string(r.src[r.pos : r.pos+i])
	r.pos += i + 1
	return s, nil
}

func (r *phpScanner) count(end byte) (int, error) {
	text, err := r.upTo(end)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count", text)
	}
	return n, nil
}

func (r *phpScanner) expect(s string) error {
	if !bytes.HasPrefix(r.src[r.pos:], []byte(s)) {
		return fmt.Errorf("want %q", s)
	}
	r.pos += len(s)
	return nil
}

package jobs

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file reads the structure of PHP's serialize() format, which Laravel uses for the command of
// an object job: arrays, objects and references; phpscalar.go reads the scalars. We keep our own
// reader rather than a library because the Go module we could vet for this,
// github.com/elliotchance/phpserialize v1.4.0, rewrites backslash sequences inside strings
// ("C:\new" comes back with a newline), reads past the end of a cut-short string without an error,
// panics on other truncated input, drops the class of nested objects and cannot follow references.
// The format is small, and PHP's own ext/standard/var_unserializer.re is its specification.

// phpKind is the type of one decoded PHP value.
type phpKind uint8

const (
	phpNull phpKind = iota
	phpBool
	phpInt
	phpFloat
	phpString
	phpArray
	phpObject
)

// phpValue is one decoded value. A value that PHP serialized once and referenced again (r: or R:)
// is shared, not copied, so the tree is a DAG; writing it as JSON copies it at each use.
type phpValue struct {
	kind  phpKind
	text  string      // JSON text of a bool, int or float; the bytes of a string
	class string      // an object's class
	keys  []string    // array keys (ints as decimal text) or object property names, unmangled
	vals  []*phpValue // the values of keys, in the same order
	list  bool        // an array whose keys are 0..n-1 in order, written as a JSON array
	done  bool        // false while the members of an array or object are still being read
	size  int         // values in this subtree, counting a shared value at each use
}

// Limits that keep a hostile or corrupt command from exhausting the worker: nesting deeper than
// maxPHPDepth, or references that would expand into more than maxPHPValues values, are errors.
const (
	maxPHPDepth  = 512
	maxPHPValues = 1 << 22
)

// classKey is the JSON key under which a decoded object carries its PHP class, written first.
// A declared PHP property cannot be named so; a dynamic one that is makes the object an error.
const classKey = "@class"

// phpReader reads one serialized value. slots holds every value read so far, numbered as PHP
// numbers them for r: and R: (1-based, every value but an R: itself and array keys); path names
// the member being read and start the offset where its value (or key) begins, for errors.
type phpReader struct {
	src   []byte
	pos   int
	start int
	slots []*phpValue
	path  []string
}

// unserializePHP decodes src, which must hold exactly one serialized value.
func unserializePHP(src []byte) (*phpValue, error) {
	r := &phpReader{src: src}
	v, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if r.pos != len(src) {
		r.start = r.pos
		return nil, r.errorf("%d unexpected bytes after the value", len(src)-r.pos)
	}
	return v, nil
}

// phpSyntaxError says which value of the serialized text could not be read and why.
type phpSyntaxError struct {
	path string // member being read, like "items.1.qty"; "" at the top
	pos  int    // byte offset where that value (or key) starts
	msg  string
}

func (e *phpSyntaxError) Error() string {
	if e.path == "" {
		return fmt.Sprintf("%s (at byte %d)", e.msg, e.pos)
	}
	return fmt.Sprintf("%s: %s (at byte %d)", e.path, e.msg, e.pos)
}

func (r *phpReader) errorf(format string, args ...any) error {
	return &phpSyntaxError{path: strings.Join(r.path, "."), pos: r.start, msg: fmt.Sprintf(format, args...)}
}

// value reads the value at r.pos.
func (r *phpReader) value(depth int) (*phpValue, error) {
	outer := r.start
	r.start = r.pos
	defer func() { r.start = outer }()
	if depth > maxPHPDepth {
		return nil, r.errorf("nested more than %d levels deep", maxPHPDepth)
	}
	if r.pos+1 >= len(r.src) {
		return nil, r.errorf("the text ends where a value should start (cut short?)")
	}
	tag := r.src[r.pos]
	if r.src[r.pos+1] != ':' && !(tag == 'N' && r.src[r.pos+1] == ';') {
		return nil, r.errorf("no value starts with %q", r.src[r.pos:r.pos+2])
	}
	if tag == 'R' { // a PHP reference (&) to an earlier value; it takes no slot of its own
		return r.reference(tag)
	}
	slot := len(r.slots)
	r.slots = append(r.slots, nil)
	var v *phpValue
	var err error
	switch tag {
	case 'N':
		r.pos += 2
		v = &phpValue{kind: phpNull}
	case 'b':
		v, err = r.boolean()
	case 'i':
		v, err = r.integer()
	case 'd':
		v, err = r.float()
	case 's':
		v, err = r.str()
	case 'a':
		r.pos += 2
		v = &phpValue{kind: phpArray}
		r.slots[slot] = v
		err = r.members(v, depth)
	case 'O':
		v, err = r.object(depth, slot)
	case 'E':
		v, err = r.enum()
	case 'r':
		v, err = r.reference(tag)
	case 'C':
		class, cerr := r.className()
		if cerr != nil {
			return nil, cerr
		}
		return nil, r.errorf("%s was written by the class's own serializer (C:), which only PHP can read", class)
	default:
		return nil, r.errorf("unsupported value type %q", tag)
	}
	if err != nil {
		return nil, err
	}
	if v.size == 0 { // a scalar; arrays and objects counted their members
		v.size = 1
	}
	r.slots[slot] = v
	return v, nil
}

// reference reads r:N; or R:N;, which name an earlier value by its slot.
func (r *phpReader) reference(tag byte) (*phpValue, error) {
	r.pos += 2
	n, err := r.count(';', "reference")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > len(r.slots) || r.slots[n-1] == nil {
		return nil, r.errorf("%c:%d refers to no earlier value", tag, n)
	}
	v := r.slots[n-1]
	if (v.kind == phpArray || v.kind == phpObject) && !v.done {
		return nil, r.errorf("%c:%d refers to a value that contains it, a cycle JSON cannot express", tag, n)
	}
	return v, nil
}

// object reads O:len:"Class":n:{...}. The slot is claimed before the members are read, so a
// member referring back to the object is seen as a cycle.
func (r *phpReader) object(depth, slot int) (*phpValue, error) {
	class, err := r.className()
	if err != nil {
		return nil, err
	}
	if err := r.expect(":"); err != nil {
		return nil, err
	}
	v := &phpValue{kind: phpObject, class: class}
	r.slots[slot] = v
	if err := r.members(v, depth); err != nil {
		return nil, err
	}
	if err := resolveProperties(v); err != nil {
		return nil, r.errorf("%v", err)
	}
	return v, nil
}

// members reads `n:{key value ...}` into v, an array or an object, and marks v done.
func (r *phpReader) members(v *phpValue, depth int) error {
	n, err := r.count(':', "member count")
	if err != nil {
		return err
	}
	if err := r.expect("{"); err != nil {
		return err
	}
	if n > len(r.src)-r.pos { // every member takes at least one byte: a bad count, not a huge one
		return r.errorf("member count %d is more than the bytes that follow", n)
	}
	v.keys, v.vals, v.list, v.size = make([]string, 0, n), make([]*phpValue, 0, n), true, 1
	for i := 0; i < n; i++ {
		key, isInt, err := r.key()
		if err != nil {
			return err
		}
		v.list = v.list && isInt && key == strconv.Itoa(i)
		r.path = append(r.path, key)
		member, err := r.value(depth + 1)
		r.path = r.path[:len(r.path)-1]
		if err != nil {
			return err
		}
		v.keys, v.vals = append(v.keys, key), append(v.vals, member)
		if v.size += member.size; v.size > maxPHPValues {
			return r.errorf("expands to more than %d values", maxPHPValues)
		}
	}
	if err := r.expect("}"); err != nil {
		return err
	}
	v.done = true
	return nil
}

// key reads an array key or property name, which PHP writes as an int or a string; an int comes
// back as its decimal text.
func (r *phpReader) key() (key string, isInt bool, err error) {
	outer := r.start
	r.start = r.pos
	defer func() { r.start = outer }()
	if r.pos+1 >= len(r.src) || r.src[r.pos+1] != ':' {
		return "", false, r.errorf("want a key (cut short?)")
	}
	switch r.src[r.pos] {
	case 'i':
		v, err := r.integer()
		if err != nil {
			return "", false, err
		}
		return v.text, true, nil
	case 's':
		r.pos += 2
		s, err := r.rawString("key")
		if err != nil {
			return "", false, err
		}
		if err := r.expect(";"); err != nil {
			return "", false, err
		}
		if !utf8.ValidString(s) {
			return "", false, r.errorf("key %q is not UTF-8 text", s)
		}
		return s, false, nil
	}
	return "", false, r.errorf("a key must be an int or a string, not %q", r.src[r.pos])
}

package jobs

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file turns a decoded PHP value into JSON for handlers: property names lose PHP's
// visibility markers, objects carry their class under "@class", and arrays that PHP would
// json_encode as lists become JSON arrays.

// unmangle splits a serialized property name into the name a PHP programmer wrote and its owner:
// "" for public, "*" for protected ("\0*\0name"), or the declaring class for private
// ("\0Class\0name"). A name that starts with NUL but has no second NUL is kept whole.
func unmangle(serialized string) (name, owner string) {
	if !strings.HasPrefix(serialized, "\x00") {
		return serialized, ""
	}
	owner, name, ok := strings.Cut(serialized[1:], "\x00")
	if !ok {
		return serialized, ""
	}
	return name, owner
}

// resolveProperties rewrites an object's serialized property names to plain names. Two
// properties can end up with one name only through inheritance: a parent class's private
// property keeps its own slot when a child declares a property of the same name. The one a handler
// means is the one the object's own class sees, so a public, protected or own-class private
// property wins over another class's private one; between two other classes' privates the first
// serialized (PHP writes the most distant ancestor's first) is kept. The rest are dropped.
func resolveProperties(obj *phpValue) error {
	type candidate struct {
		index int  // position in keys/vals
		rank  int  // 0 seen by the object's class, 1 another class's private
		kept  bool // whether it survives
	}
	best := make(map[string]*candidate, len(obj.keys))
	cands := make([]candidate, len(obj.keys))
	names := make([]string, len(obj.keys))
	for i, serialized := range obj.keys {
		name, owner := unmangle(serialized)
		if name == classKey {
			return fmt.Errorf("%s has a property named %q, which qctl uses for class names", obj.class, classKey)
		}
		rank := 0
		if owner != "" && owner != "*" && owner != obj.class {
			rank = 1
		}
		names[i], cands[i] = name, candidate{index: i, rank: rank, kept: true}
		if prev, ok := best[name]; ok {
			if prev.rank <= rank {
				cands[i].kept = false
				continue
			}
			prev.kept = false
		}
		best[name] = &cands[i]
	}
	keys, vals := obj.keys[:0], obj.vals[:0]
	for i, c := range cands {
		if c.kept {
			keys, vals = append(keys, names[i]), append(vals, obj.vals[c.index])
		}
	}
	obj.keys, obj.vals = keys, vals
	return nil
}

// appendJSON writes v as JSON. A value shared through references is written in full at every
// use; unserializePHP has already rejected cycles and bounded the expansion.
func appendJSON(dst []byte, v *phpValue) []byte {
	switch v.kind {
	case phpNull:
		return append(dst, "null"...)
	case phpBool, phpInt, phpFloat:
		return append(dst, v.text...)
	case phpString:
		return appendJSONString(dst, v.text)
	case phpArray:
		if v.list {
			dst = append(dst, '[')
			for i, member := range v.vals {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendJSON(dst, member)
			}
			return append(dst, ']')
		}
		dst = append(dst, '{')
	case phpObject:
		dst = append(dst, '{')
		dst = appendJSONString(dst, classKey)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v.class)
		if len(v.keys) > 0 {
			dst = append(dst, ',')
		}
	}
	for i, key := range v.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, key)
		dst = append(dst, ':')
		dst = appendJSON(dst, v.vals[i])
	}
	return append(dst, '}')
}

// appendJSONString writes s, which must be valid UTF-8, as a JSON string. Unlike encoding/json it
// leaves <, > and & alone, so a script reading the JSON sees the text as PHP held it.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' { // valid JSON, but not valid JavaScript source
				dst = append(dst, `\u202`...)
				dst = append(dst, hex[r&0xf])
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

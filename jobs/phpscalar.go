package jobs

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file reads the scalar values of PHP's serialize() format (see phpserial.go) and the
// lengths, counts and literals around them.

// upTo returns the bytes from r.pos to the next end byte and moves past that byte.
func (r *phpReader) upTo(end byte, what string) (string, error) {
	i := bytes.IndexByte(r.src[r.pos:], end)
	if i < 0 {
		return "", r.errorf("%s has no closing %q (cut short?)", what, end)
	}
	s := string(r.src[r.pos : r.pos+i])
	r.pos += i + 1
	return s, nil
}

// expect moves past the literal s or reports what stood there instead.
func (r *phpReader) expect(s string) error {
	if !bytes.HasPrefix(r.src[r.pos:], []byte(s)) {
		if r.pos >= len(r.src) {
			return r.errorf("want %q, the text ends (cut short?)", s)
		}
		return r.errorf("want %q", s)
	}
	r.pos += len(s)
	return nil
}

// count reads the decimal length or count that ends at the next end byte.
func (r *phpReader) count(end byte, what string) (int, error) {
	text, err := r.upTo(end, what)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.Atoi(text)
	if perr != nil || n < 0 {
		return 0, r.errorf("%s %q is not a count", what, text)
	}
	return n, nil
}

func (r *phpReader) boolean() (*phpValue, error) {
	r.pos += 2
	text, err := r.upTo(';', "boolean")
	if err != nil {
		return nil, err
	}
	switch text {
	case "0":
		return &phpValue{kind: phpBool, text: "false"}, nil
	case "1":
		return &phpValue{kind: phpBool, text: "true"}, nil
	}
	return nil, r.errorf("boolean %q is not 0 or 1", text)
}

func (r *phpReader) integer() (*phpValue, error) {
	r.pos += 2
	text, err := r.upTo(';', "integer")
	if err != nil {
		return nil, err
	}
	n, perr := strconv.ParseInt(text, 10, 64)
	if perr != nil {
		return nil, r.errorf("integer %q is not a 64-bit whole number", text)
	}
	return &phpValue{kind: phpInt, text: strconv.FormatInt(n, 10)}, nil
}

// float reads a PHP float. INF and NAN have no JSON form, so they are errors rather than a
// silently different number.
func (r *phpReader) float() (*phpValue, error) {
	r.pos += 2
	text, err := r.upTo(';', "float")
	if err != nil {
		return nil, err
	}
	f, perr := strconv.ParseFloat(text, 64)
	if perr != nil {
		return nil, r.errorf("float %q is not a number", text)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, r.errorf("float %s has no JSON form", text)
	}
	return &phpValue{kind: phpFloat, text: formatFloat(f)}, nil
}

// formatFloat writes f as encoding/json does: the shortest text that reads back as f, in
// exponent form only for very large or small magnitudes, with a one-digit exponent unpadded.
func formatFloat(f float64) string {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // 1e-07 becomes 1e-7
		b = b[:n-1]
	}
	return string(b)
}

// rawString reads `<len>:"<len bytes>"` (the part after "s:" and after a class tag), which is
// binary-safe: the bytes are taken by count, never scanned for quotes.
func (r *phpReader) rawString(what string) (string, error) {
	n, err := r.count(':', what+" length")
	if err != nil {
		return "", err
	}
	if err := r.expect(`"`); err != nil {
		return "", err
	}
	if n > len(r.src)-r.pos {
		return "", r.errorf("%s of %d bytes is cut short: only %d bytes follow", what, n, len(r.src)-r.pos)
	}
	s := string(r.src[r.pos : r.pos+n])
	r.pos += n
	if err := r.expect(`"`); err != nil {
		return "", r.errorf("%s of %d bytes does not end where its length says", what, n)
	}
	return s, nil
}

func (r *phpReader) str() (*phpValue, error) {
	r.pos += 2
	s, err := r.rawString("string")
	if err != nil {
		return nil, err
	}
	if err := r.expect(";"); err != nil {
		return nil, err
	}
	if !utf8.ValidString(s) {
		return nil, r.errorf("string is binary, not UTF-8 text, and JSON cannot carry it")
	}
	return &phpValue{kind: phpString, text: s}, nil
}

// className reads the `<len>:"<class>"` after an O:, C: or E: tag.
func (r *phpReader) className() (string, error) {
	r.pos += 2
	class, err := r.rawString("class name")
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(class) {
		return "", r.errorf("class name is not UTF-8 text")
	}
	return class, nil
}

// enum reads a PHP 8.1 enum case (E:len:"Class:Case";) as its case name: the serialized form does
// not carry a backed enum's value.
func (r *phpReader) enum() (*phpValue, error) {
	text, err := r.className()
	if err != nil {
		return nil, err
	}
	if err := r.expect(";"); err != nil {
		return nil, err
	}
	_, name, ok := strings.Cut(text, ":")
	if !ok || name == "" {
		return nil, r.errorf("enum %q is not Class:Case", text)
	}
	return &phpValue{kind: phpString, text: name}, nil
}

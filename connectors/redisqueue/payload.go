package redisqueue

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// idAlphabet is the alphabet of Laravel's Str::random, which makes Redis job ids.
const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newID returns 32 random alphanumerics, like Laravel's RedisQueue::getRandomId.
func newID() string {
	var out [32]byte
	var buf [48]byte
	n := 0
	for n < len(out) {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
		for _, b := range buf {
			if b >= 248 { // 248 = 4*62: drop the rest so every letter is equally likely
				continue
			}
			out[n] = idAlphabet[b%62]
			if n++; n == len(out) {
				break
			}
		}
	}
	return string(out[:])
}

// envelope is what the connector needs to know about a payload's top-level JSON object.
type envelope struct {
	object      bool   // the payload is one JSON object
	members     int    // how many top-level keys it has
	closeAt     int    // index of its final '}'
	id          []byte // raw JSON value of the top-level "id", nil when absent
	hasAttempts bool   // it has a top-level "attempts"
}

// withIDAndAttempts returns payload carrying a top-level "id" (32 alphanumerics) and "attempts"
// (0), as Laravel's RedisQueue::createPayloadArray writes them: appended after the existing keys,
// whose bytes and order are untouched. Keys already present are kept. A payload that is not a
// JSON object is returned as is with an empty id: it is still delivered, and the worker fails it.
func withIDAndAttempts(payload []byte) (out []byte, id string) {
	if !json.Valid(payload) {
		return payload, ""
	}
	env := inspect(payload)
	if !env.object {
		return payload, ""
	}
	if env.id != nil && env.hasAttempts {
		return payload, idString(env.id)
	}
	out = make([]byte, 0, len(payload)+64)
	out = append(out, payload[:env.closeAt]...)
	sep := env.members > 0
	if env.id == nil {
		id = newID()
		if sep {
			out = append(out, ',')
		}
		out = append(out, `"id":"`...)
		out = append(out, id...)
		out = append(out, '"')
		sep = true
	} else {
		id = idString(env.id)
	}
	if !env.hasAttempts {
		if sep {
			out = append(out, ',')
		}
		out = append(out, `"attempts":0`...)
	}
	out = append(out, payload[env.closeAt:]...)
	return out, id
}

// jobID is a popped job's id: its payload's "id", or for a payload without one (not a job at all,
// pushed by hand) "payload-" and the start of its SHA-256, so that the worker's line and the
// failed record still name it and the same bytes always get the same name.
func jobID(payload []byte) string {
	if id := payloadID(payload); id != "" {
		return id
	}
	sum := sha256.Sum256(payload)
	return "payload-" + hex.EncodeToString(sum[:6])
}

// payloadID returns the top-level "id" of a popped payload, or "" when it has none.
func payloadID(payload []byte) string {
	return idString(inspect(payload).id)
}

// idString turns a raw JSON id value into the id: a string's text, or another value's JSON.
func idString(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// inspect walks the top level of payload, skipping nested values, and reports its shape. It never
// panics: input that is not a well-formed object yields object == false.
func inspect(b []byte) envelope {
	var env envelope
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return env
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return finish(b, i, env)
	}
	for {
		keyStart := i
		if i = skipString(b, i); i < 0 {
			return envelope{}
		}
		key := b[keyStart:i]
		if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
			return envelope{}
		}
		valStart := skipSpace(b, i+1)
		if i = skipValue(b, valStart); i < 0 {
			return envelope{}
		}
		env.members++
		switch keyName(key) {
		case "id":
			env.id = b[valStart:i]
		case "attempts":
			env.hasAttempts = true
		}
		if i = skipSpace(b, i); i >= len(b) {
			return envelope{}
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return finish(b, i, env)
		default:
			return envelope{}
		}
	}
}

// finish accepts the object closed at i when only whitespace follows.
func finish(b []byte, i int, env envelope) envelope {
	if skipSpace(b, i+1) != len(b) {
		return envelope{}
	}
	env.object, env.closeAt = true, i
	return env
}

// keyName returns the text of a raw JSON key, unescaping only when it has escapes.
func keyName(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at i, or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at i, or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		start := i
		for i < len(b) && !isDelimiter(b[i]) {
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}

// isDelimiter reports whether c ends a number or literal.
func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

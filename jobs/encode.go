package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Encode returns the payload as compact JSON in Laravel's key order: uuid, displayName, job,
// maxTries, maxExceptions, failOnTimeout, backoff, timeout, then retryUntil (or think-queue's
// timeoutAt) when set, data, createdAt when set, id and attempts when set (Redis), and last any
// keys Decode kept without modelling them (Laravel 12 writes "delay" there). Unset optional
// settings are written as null, as Laravel does, so PHP readers find every key they index.
//
// A think-queue payload (IsThink) keeps think-queue's envelope instead: job, maxTries and timeout
// (think-queue 3 only, or when set), timeoutAt when set, data, then the settings think-queue has
// no key for (maxExceptions, failOnTimeout, backoff, createdAt) only when set, for qctl workers,
// then id, attempts and the unmodelled keys as above. So a think payload re-encoded by a worker
// or handed to an exec handler never grows Laravel's keys.
//
// The output is byte-stable for equal payloads. "/" and the HTML characters <, >, & are written
// unescaped and non-ASCII text as UTF-8; Laravel writes "\/" (and, before version 11, \u escapes),
// and every JSON reader accepts both.
func (p *Payload) Encode() ([]byte, error) {
	if p.Job == "" {
		return nil, fmt.Errorf("encode job payload: %w: \"job\" is empty", ErrBadPayload)
	}
	var data bytes.Buffer
	if len(p.Data) == 0 {
		data.WriteString("null")
	} else if err := json.Compact(&data, p.Data); err != nil {
		return nil, fmt.Errorf("encode job payload %q: %w: data is not valid JSON: %v", p.Job, ErrBadPayload, err)
	}

	var w objectWriter
	if p.IsThink() {
		p.encodeThink(&w, data.Bytes())
	} else {
		p.encodeLaravel(&w, data.Bytes())
	}
	if p.ID != "" {
		w.str("id", p.ID)
	}
	if p.Attempts != nil {
		w.intOrNull("attempts", p.Attempts)
	}
	for _, f := range p.extra {
		var v bytes.Buffer
		if err := json.Compact(&v, f.value); err != nil {
			return nil, fmt.Errorf("encode job payload %q: %w: key %q is not valid JSON: %v", p.Job, ErrBadPayload, f.key, err)
		}
		w.raw(f.key, v.Bytes())
	}
	w.buf.WriteByte('}')
	return w.buf.Bytes(), nil
}

// encodeLaravel writes Encode's keys up to createdAt in Laravel's envelope.
func (p *Payload) encodeLaravel(w *objectWriter, data []byte) {
	w.str("uuid", p.UUID)
	w.str("displayName", p.DisplayName)
	w.str("job", p.Job)
	w.intOrNull("maxTries", p.MaxTries)
	w.intOrNull("maxExceptions", p.MaxExceptions)
	w.raw("failOnTimeout", []byte(strconv.FormatBool(p.FailOnTimeout)))
	if p.Backoff == "" {
		w.raw("backoff", []byte("null"))
	} else {
		w.str("backoff", p.Backoff)
	}
	w.intOrNull("timeout", p.Timeout)
	p.encodeExpiry(w, "retryUntil")
	w.raw("data", data)
	if p.CreatedAt != nil {
		w.int64OrNull("createdAt", p.CreatedAt)
	}
}

// encodeThink writes Encode's keys up to createdAt in think-queue's envelope.
func (p *Payload) encodeThink(w *objectWriter, data []byte) {
	w.str("job", p.Job)
	if p.shape == shapeThink || p.MaxTries != nil {
		w.intOrNull("maxTries", p.MaxTries)
	}
	if p.shape == shapeThink || p.Timeout != nil {
		w.intOrNull("timeout", p.Timeout)
	}
	p.encodeExpiry(w, "timeoutAt")
	w.raw("data", data)
	if p.MaxExceptions != nil {
		w.intOrNull("maxExceptions", p.MaxExceptions)
	}
	if p.FailOnTimeout {
		w.raw("failOnTimeout", []byte("true"))
	}
	if p.Backoff != "" {
		w.str("backoff", p.Backoff)
	}
	if p.CreatedAt != nil {
		w.int64OrNull("createdAt", p.CreatedAt)
	}
}

// encodeExpiry writes the expiry under the key it was read from, or key for a new one.
func (p *Payload) encodeExpiry(w *objectWriter, key string) {
	if p.RetryUntil == nil && p.expiryKey == "" {
		return
	}
	if p.expiryKey != "" {
		key = p.expiryKey
	}
	w.int64OrNull(key, p.RetryUntil)
}

// objectWriter appends the members of one JSON object in the order they are written; Encode uses
// it instead of encoding/json because key order is part of the wire format.
type objectWriter struct {
	buf bytes.Buffer
}

func (w *objectWriter) key(k string) {
	if w.buf.Len() == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	appendString(&w.buf, k)
	w.buf.WriteByte(':')
}

func (w *objectWriter) raw(k string, v []byte) {
	w.key(k)
	w.buf.Write(v)
}

func (w *objectWriter) str(k, v string) {
	w.key(k)
	appendString(&w.buf, v)
}

func (w *objectWriter) intOrNull(k string, v *int) {
	if v == nil {
		w.raw(k, []byte("null"))
		return
	}
	w.raw(k, strconv.AppendInt(nil, int64(*v), 10))
}

func (w *objectWriter) int64OrNull(k string, v *int64) {
	if v == nil {
		w.raw(k, []byte("null"))
		return
	}
	w.raw(k, strconv.AppendInt(nil, *v, 10))
}

// appendString writes s as a JSON string without HTML escaping, matching what PHP readers and
// humans reading a queue expect to see.
func appendString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	buf.Truncate(buf.Len() - 1)
}

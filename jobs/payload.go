// Package jobs holds what a queued job is and how it runs: the JSON envelope that Laravel and
// think-queue store on the queue (Payload), the handler contract (Handler, Job, Registry), the
// control-flow errors a handler returns to release or fail its job, panic recovery (Run), backoff
// lists, the built-in handler that runs an external command (Exec), and the reader of Laravel
// object jobs' PHP-serialized commands (Payload.Command, Job.Bind).
//
// Files: payload.go decodes the envelope and encode.go writes it; job.go and registry.go are the
// handler side; command.go and php*.go read serialized commands, and phpedit.go rewrites them.
//
// The package is a leaf: it imports only the standard library and github.com/google/uuid, so every
// connector, the worker and user programs can share it without import cycles.
package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// CallQueuedHandlerJob is the "job" value Laravel writes for object jobs (classes that implement
// ShouldQueue). Such payloads carry the class in displayName and data.commandName, which is why
// Registry.Lookup falls back to those names.
const CallQueuedHandlerJob = `Illuminate\Queue\CallQueuedHandler@call`

// ErrBadPayload is wrapped by every error Decode returns, so the worker can tell a payload it will
// never be able to run (and must move to the failed store) from a transient failure.
var ErrBadPayload = errors.New("bad job payload")

// Payload is the job envelope as stored on the queue, in the JSON shape Laravel 8-12 and
// think-queue 1-3 write. Field comments give the JSON key.
//
// Keys that Payload does not model (Laravel 12's "delay", Horizon's "tags" and "pushedAt", and so on)
// are kept in the order they arrived and written back by Encode, so a payload that qctl decodes and
// re-encodes loses nothing a PHP worker or dashboard relies on.
type Payload struct {
	UUID          string          // "uuid": v4 uuid (Laravel); empty for think-queue
	DisplayName   string          // "displayName": the part before "@", or the class of an object job
	Job           string          // "job": "SendEmail@handle", "SendEmail" or CallQueuedHandlerJob
	MaxTries      *int            // "maxTries": nil means the worker's --tries applies
	MaxExceptions *int            // "maxExceptions"
	FailOnTimeout bool            // "failOnTimeout"
	Backoff       string          // "backoff": "1,5,10"; a JSON number or array is normalised to this form
	Timeout       *int            // "timeout": seconds
	RetryUntil    *int64          // "retryUntil" (Laravel) or "timeoutAt" (think-queue): unix seconds
	Data          json.RawMessage // "data": the user's JSON, verbatim
	ID            string          // "id": Redis only; a JSON number is accepted and kept as its decimal text
	Attempts      *int            // "attempts": Redis and think-queue only
	CreatedAt     *int64          // "createdAt": unix seconds (Laravel 12)

	// expiryKey is the key RetryUntil was read from ("retryUntil" or "timeoutAt"), kept so Encode
	// writes the expiry back under the name the payload's producer reads, and writes an explicit
	// null where Laravel had written one.
	expiryKey string
	// shape is the key set Encode writes: Laravel's unless the payload came from think-queue or
	// NewThinkPayload.
	shape shape
	// extra holds the keys Payload does not model, in arrival order, with their raw values.
	extra []extraField
}

// shape names the envelopes Encode can write. The zero value is Laravel's, so a Payload built as a
// literal keeps the shape it always had.
type shape uint8

const (
	shapeLaravel     shape = iota // uuid, displayName, job and every setting, unset ones as null
	shapeThink                    // think-queue 3: job, maxTries, timeout, data
	shapeThinkLegacy              // think-queue 1.x and 2.x: job, data
)

// extraField is one key/value pair that Payload carries without interpreting it.
type extraField struct {
	key   string
	value json.RawMessage
}

// NewPayload builds a Laravel string-job payload for the job name ("SendEmail" or
// "SendEmail@handle"), the way Queue::push('SendEmail@handle', $data) does: a fresh v4 uuid,
// displayName set to the part before "@", every optional setting null so the worker's flags apply,
// and createdAt set to now for Laravel 12's queue metrics. A nil data encodes as JSON null.
func NewPayload(name string, data json.RawMessage) *Payload {
	displayName, _, _ := strings.Cut(name, "@")
	now := time.Now().Unix()
	return &Payload{
		UUID:        uuid.NewString(),
		DisplayName: displayName,
		Job:         name,
		Data:        data,
		CreatedAt:   &now,
	}
}

// NewObjectPayload builds a Laravel object-job payload for a serialized command (PHP's
// serialize() of the job object, or its encryption) of class, the way Laravel 8's
// Queue::createObjectPayload does: a fresh v4 uuid, displayName and data.commandName set to the
// class, job set to CallQueuedHandlerJob, retryUntil written even when null, and no createdAt.
// The caller sets MaxTries, MaxExceptions, FailOnTimeout, Backoff, Timeout and RetryUntil from the
// object's properties.
func NewObjectPayload(class, command string) *Payload {
	data, _ := json.Marshal(struct {
		CommandName string `json:"commandName"`
		Command     string `json:"command"`
	}{class, command})
	return &Payload{
		UUID:        uuid.NewString(),
		DisplayName: class,
		Job:         CallQueuedHandlerJob,
		Data:        data,
		expiryKey:   "retryUntil",
	}
}

// NewThinkPayload builds a think-queue 3 string-job payload for the job name ("app\job\Hello" or
// "app\job\Hello@fire"), the way ThinkPHP's Queue::push does: job, maxTries and timeout null,
// data. It has no uuid, displayName or createdAt, which think-queue never writes, and Encode keeps
// that shape, so a PHP worker reads exactly what its own producer would have written. A nil data
// encodes as JSON null.
func NewThinkPayload(name string, data json.RawMessage) *Payload {
	return &Payload{Job: name, Data: data, shape: shapeThink}
}

// IsThink reports whether Encode writes think-queue's envelope: the payload came from
// NewThinkPayload or was decoded without "uuid" and "displayName" (keys every Laravel payload
// has and no think-queue payload does), and neither has been set since.
func (p *Payload) IsThink() bool {
	return p.shape != shapeLaravel && p.UUID == "" && p.DisplayName == ""
}

// Name returns the handler lookup name: the "job" value without its "@method" suffix, because one
// handler serves a job however the PHP side named the method.
func (p *Payload) Name() string {
	name, _, _ := strings.Cut(p.Job, "@")
	return name
}

// Method returns the part of the "job" value after "@", or "" when there is none, for handlers that
// dispatch on the PHP method name.
func (p *Payload) Method() string {
	_, method, _ := strings.Cut(p.Job, "@")
	return method
}

// Decode parses a payload written by Laravel 8-12 or think-queue 1-3. Unknown keys are kept for
// Encode and otherwise ignored; missing optional keys leave their fields zero. A payload without
// "uuid" and "displayName" is think-queue's (see IsThink), and Encode writes it back in that shape. A payload that is
// not JSON, is not an object, lacks a non-empty string "job", or has a known key of the wrong type
// returns an error that wraps ErrBadPayload, says what was wrong, and quotes the start of the
// payload, because that text becomes the exception users read in the failed-job store.
func Decode(raw []byte) (*Payload, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: payload is empty", ErrBadPayload)
	}
	if !json.Valid(trimmed) {
		return nil, badPayload(raw, "not valid JSON")
	}
	if trimmed[0] != '{' {
		return nil, badPayload(raw, "not a JSON object (it is %s)", jsonKind(trimmed))
	}
	fields, err := objectFields(trimmed)
	if err != nil {
		return nil, badPayload(raw, "%v", err)
	}

	p := &Payload{shape: shapeThinkLegacy}
	hasJob, laravel, limits := false, false, false
	for _, f := range fields {
		var err error
		switch f.key {
		case "uuid":
			laravel = true
			p.UUID, err = decodeString(f)
		case "displayName":
			laravel = true
			p.DisplayName, err = decodeString(f)
		case "job":
			hasJob = true
			if jsonKind(f.value) != "a string" {
				err = fmt.Errorf("%q is %s, want a string", f.key, jsonKind(f.value))
				break
			}
			p.Job, err = decodeString(f)
		case "maxTries":
			limits = true
			p.MaxTries, err = decodeInt(f)
		case "maxExceptions":
			p.MaxExceptions, err = decodeInt(f)
		case "failOnTimeout":
			p.FailOnTimeout, err = decodeBool(f)
		case "backoff":
			p.Backoff, err = decodeBackoff(f)
		case "timeout":
			limits = true
			p.Timeout, err = decodeInt(f)
		case "retryUntil", "timeoutAt":
			p.expiryKey = f.key
			p.RetryUntil, err = decodeInt64(f)
		case "data":
			p.Data = f.value
		case "id":
			p.ID, err = decodeID(f)
		case "attempts":
			p.Attempts, err = decodeInt(f)
		case "createdAt":
			p.CreatedAt, err = decodeInt64(f)
		default:
			p.setExtra(f)
		}
		if err != nil {
			return nil, badPayload(raw, "%v", err)
		}
	}
	if !hasJob {
		return nil, badPayload(raw, `missing "job"`)
	}
	if p.Job == "" {
		return nil, badPayload(raw, `"job" is empty`)
	}
	switch {
	case laravel:
		p.shape = shapeLaravel
	case limits:
		p.shape = shapeThink
	}
	return p, nil
}

// setExtra records an unmodelled key; a repeated key replaces the earlier value, as PHP's
// json_decode does.
func (p *Payload) setExtra(f extraField) {
	for i := range p.extra {
		if p.extra[i].key == f.key {
			p.extra[i].value = f.value
			return
		}
	}
	p.extra = append(p.extra, f)
}

// jsonKind names the kind of a valid JSON value for error messages.
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// decodeString reads a string member; null reads as "", since Laravel writes a null displayName
// for closures.
func decodeString(f extraField) (string, error) {
	switch jsonKind(f.value) {
	case "null":
		return "", nil
	case "a string":
		// keyText copies a string without escapes or invalid UTF-8 as is, which is what
		// json.Unmarshal makes of it, and hands the rest to json.Unmarshal: a job's uuid,
		// displayName, job and id cost a copy each rather than a reflective decode.
		return keyText(f.value)
	default:
		return "", fmt.Errorf("%q is %s, want a string", f.key, jsonKind(f.value))
	}
}

// decodeInt64 reads an optional whole number. A string holding one is accepted too, because PHP
// job classes sometimes declare settings such as $tries as strings and json_encode keeps them so.
func decodeInt64(f extraField) (*int64, error) {
	var text string
	switch jsonKind(f.value) {
	case "null":
		return nil, nil
	case "a number":
		text = string(f.value)
	case "a string":
		if err := json.Unmarshal(f.value, &text); err != nil {
			return nil, err
		}
		text = strings.TrimSpace(text)
	default:
		return nil, fmt.Errorf("%q is %s, want a whole number or null", f.key, jsonKind(f.value))
	}
	n, ok := parseWhole(text)
	if !ok {
		return nil, fmt.Errorf("%q is %s, want a whole number or null", f.key, f.value)
	}
	return &n, nil
}

// decodeInt is decodeInt64 for settings held in an int.
func decodeInt(f extraField) (*int, error) {
	n, err := decodeInt64(f)
	if err != nil || n == nil {
		return nil, err
	}
	if *n < math.MinInt || *n > math.MaxInt {
		return nil, fmt.Errorf("%q is %d, out of range", f.key, *n)
	}
	i := int(*n)
	return &i, nil
}

// parseWhole parses a JSON number that denotes a whole number, including forms such as 1e3 or 5.0
// that other encoders (Lua's cjson among them) may produce.
func parseWhole(text string) (int64, bool) {
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// decodeBool reads failOnTimeout. Numbers are accepted with PHP's truthiness (0 is false), because
// PHP code may set the property to 0 or 1 and Laravel copies it through.
func decodeBool(f extraField) (bool, error) {
	switch jsonKind(f.value) {
	case "null":
		return false, nil
	case "a boolean":
		return f.value[0] == 't', nil
	case "a number":
		n, err := strconv.ParseFloat(string(f.value), 64)
		return n != 0, err
	default:
		return false, fmt.Errorf("%q is %s, want true, false or null", f.key, jsonKind(f.value))
	}
}

// decodeBackoff reads "backoff": Laravel's comma list string, or a bare number or an array of
// numbers as other producers write it, normalised to the comma list ParseBackoff reads.
func decodeBackoff(f extraField) (string, error) {
	switch jsonKind(f.value) {
	case "null", "a string":
		return decodeString(f)
	case "a number":
		n, ok := parseWhole(string(f.value))
		if !ok {
			return "", fmt.Errorf("%q is %s, want whole seconds", f.key, f.value)
		}
		return strconv.FormatInt(n, 10), nil
	case "an array":
		var items []json.RawMessage
		if err := json.Unmarshal(f.value, &items); err != nil {
			return "", err
		}
		parts := make([]string, len(items))
		for i, item := range items {
			n, ok := int64(0), false
			if jsonKind(item) == "a number" {
				n, ok = parseWhole(string(item))
			}
			if !ok {
				return "", fmt.Errorf("%q item %d is %s, want whole seconds", f.key, i+1, item)
			}
			parts[i] = strconv.FormatInt(n, 10)
		}
		return strings.Join(parts, ","), nil
	default:
		return "", fmt.Errorf("%q is %s, want a string like \"1,5,10\", a number or an array of numbers", f.key, jsonKind(f.value))
	}
}

// decodeID reads the Redis job id, which Laravel writes as a string and some producers as a number.
func decodeID(f extraField) (string, error) {
	if jsonKind(f.value) != "a number" {
		return decodeString(f)
	}
	n, ok := parseWhole(string(f.value))
	if !ok {
		return "", fmt.Errorf("%q is %s, want a string or a whole number", f.key, f.value)
	}
	return strconv.FormatInt(n, 10), nil
}

// previewLimit is how much of a bad payload an error quotes: enough to recognise it, short enough
// for a log line.
const previewLimit = 80

// badPayload builds a Decode error: what was wrong, then the start of the payload.
func badPayload(raw []byte, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadPayload, fmt.Sprintf(format, args...), preview(raw))
}

// preview returns the first previewLimit bytes of raw as printable text, escaping control and
// invalid bytes so the message stays one readable line, and marks a cut with "..." and the length.
func preview(raw []byte) string {
	s := raw
	cut := len(s) > previewLimit
	if cut {
		end := previewLimit
		for end > 0 && !utf8.RuneStart(s[end]) {
			end--
		}
		s = s[:end]
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[size:]
	}
	if cut {
		fmt.Fprintf(&b, "... (%d bytes)", len(raw))
	}
	return b.String()
}

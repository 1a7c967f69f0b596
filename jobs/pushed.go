package jobs

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// This file reads and writes when a job was pushed and when it fell due, for the worker's wait
// times (the dashboard's history). Payloads carry it in three ways, each with its own precision:
//
//   - "pushedAt": Horizon's microtime(true) as a string ("1733320000.1234"), microseconds;
//     qctl's own pushes write it too (SetPushedAt). PHP workers ignore the key; Horizon writes
//     the same key and shape.
//   - "createdAt": Laravel 12's unix seconds (and qctl's), so a wait is known to a second.
//   - "delay": Laravel 12's seconds of delay at push, added to either of the above.

// SetPushedAt records t as the payload's "pushedAt" (Horizon's key and form, microseconds) and
// a push delay as Laravel 12's "delay" in whole seconds, so a worker can tell how long the job
// waited once due. A think-queue payload is left as it is: think-queue writes neither key.
func (p *Payload) SetPushedAt(t time.Time, delay time.Duration) {
	if p.IsThink() {
		return
	}
	us := t.UnixMicro()
	s := strconv.FormatInt(us/1e6, 10) + "." + leftPad(strconv.FormatInt(us%1e6, 10), 6)
	v, _ := json.Marshal(s)
	p.setExtra(extraField{key: "pushedAt", value: v})
	if delay > 0 {
		p.setExtra(extraField{key: "delay", value: json.RawMessage(strconv.FormatInt(int64(math.Ceil(delay.Seconds())), 10))})
	}
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// DueAt is when the job was pushed plus its push delay: Horizon's or qctl's "pushedAt"
// (microseconds) when present, else Laravel 12's "createdAt" (seconds), plus "delay" when the
// payload carries one. ok is false when the payload says neither, or says something no producer
// could have written (before 2000). A job released to run again keeps these keys, so DueAt is
// its first due time, not its latest.
func (p *Payload) DueAt() (at time.Time, ok bool) {
	var delay float64
	for i := range p.extra {
		switch f := &p.extra[i]; f.key {
		case "pushedAt":
			if us, good := microtime(f.value); good {
				at, ok = time.UnixMicro(us), true
			}
		case "delay":
			if n, err := strconv.ParseFloat(string(f.value), 64); err == nil && n > 0 && n < 1e9 {
				delay = n
			}
		}
	}
	if !ok && p.CreatedAt != nil {
		at, ok = time.Unix(*p.CreatedAt, 0), true
	}
	if !ok || at.Unix() < 946684800 {
		return time.Time{}, false
	}
	return at.Add(time.Duration(delay * float64(time.Second))), true
}

// microtime reads PHP's microtime(true) as Horizon stores it (a string, or a number) in unix
// microseconds.
func microtime(raw json.RawMessage) (int64, bool) {
	s := string(raw)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1e11 {
		return 0, false
	}
	return int64(math.Round(f * 1e6)), true
}

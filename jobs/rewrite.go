package jobs

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// ResolveName is the job's name as people read it, as Laravel's Job::resolveName gives it: an
// object job's displayName (its class), else the "job" string.
func (p *Payload) ResolveName() string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Job
}

// ForRetry is a failed job's payload as retry pushes it back: "attempts" set to 0 (Redis and
// think-queue payloads count attempts inside), and a retry deadline ("retryUntil", think-queue's
// "timeoutAt") that has passed set to null, so the job runs again with its tries instead of failing
// at once. Laravel instead asks the PHP job's retryUntil() for a fresh deadline; qctl cannot run PHP.
// Every other key, the key order and the uuid are kept byte for byte; a payload that is not a JSON
// object is returned as it is.
func ForRetry(payload []byte, now time.Time) []byte {
	if !bytes.Contains(payload, []byte(`"attempts"`)) && !bytes.Contains(payload, []byte(`"retryUntil"`)) && !bytes.Contains(payload, []byte(`"timeoutAt"`)) {
		return payload // Laravel's database and beanstalkd payloads: nothing to change
	}
	if !json.Valid(payload) {
		return payload
	}
	fields, err := objectFields(payload)
	if err != nil {
		return payload
	}
	replace := map[string]string{}
	for _, f := range fields {
		switch f.key {
		case "attempts":
			replace[f.key] = "0"
		case "retryUntil", "timeoutAt":
			if deadline, err := strconv.ParseFloat(string(f.value), 64); err == nil && deadline <= float64(now.Unix()) {
				replace[f.key] = "null"
			}
		}
	}
	return setKeys(payload, fields, replace)
}

// SetKeys replaces the values of the top-level keys in replace (raw JSON values), keeping every
// other member and the key order as they were. It returns payload unchanged when it is not a JSON
// object or has none of the keys.
func SetKeys(payload []byte, replace map[string]string) []byte {
	if len(replace) == 0 || !json.Valid(payload) {
		return payload
	}
	fields, err := objectFields(payload)
	if err != nil {
		return payload
	}
	return setKeys(payload, fields, replace)
}

// setKeys is SetKeys on a payload already split into its fields.
func setKeys(payload []byte, fields []extraField, replace map[string]string) []byte {
	if len(replace) == 0 {
		return payload
	}
	var out bytes.Buffer
	out.Grow(len(payload) + 16)
	out.WriteByte('{')
	found := false
	for i, f := range fields {
		if i > 0 {
			out.WriteByte(',')
		}
		appendString(&out, f.key)
		out.WriteByte(':')
		if v, ok := replace[f.key]; ok {
			out.WriteString(v)
			found = true
		} else {
			out.Write(f.value)
		}
	}
	if !found {
		return payload
	}
	out.WriteByte('}')
	return out.Bytes()
}

package commands

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// retryPayload is a failed job's payload as retry pushes it back: "attempts" set to 0 (Redis and
// think-queue payloads count attempts inside), and a retry deadline ("retryUntil", think-queue's
// "timeoutAt") that has passed set to null, so the job runs again with its tries instead of failing
// at once. Laravel instead asks the PHP job's retryUntil() for a fresh deadline; qctl cannot run PHP.
// Every other key, the key order and the uuid are kept byte for byte; a payload that is not a JSON
// object is returned as it is.
func retryPayload(payload []byte, now time.Time) []byte {
	if !bytes.Contains(payload, []byte(`"attempts"`)) && !bytes.Contains(payload, []byte(`"retryUntil"`)) && !bytes.Contains(payload, []byte(`"timeoutAt"`)) {
		return payload // Laravel's database and beanstalkd payloads: nothing to change
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return payload
	}
	replace := map[string]string{}
	if _, ok := fields["attempts"]; ok {
		replace["attempts"] = "0"
	}
	for _, key := range []string{"retryUntil", "timeoutAt"} {
		if v, ok := fields[key]; ok {
			if deadline, err := strconv.ParseFloat(string(v), 64); err == nil && deadline <= float64(now.Unix()) {
				replace[key] = "null"
			}
		}
	}
	if len(replace) == 0 {
		return payload
	}
	return rewriteKeys(payload, replace)
}

// resetAttempts sets a payload's "attempts" to 0, keeping every other key and the key order, so
// the retried job gets its full tries (Redis and think-queue payloads count attempts inside).
func resetAttempts(payload []byte) []byte {
	return rewriteKeys(payload, map[string]string{"attempts": "0"})
}

// rewriteKeys replaces the values of the top-level keys in replace, keeping everything else,
// including the key order, as it was. It returns payload unchanged when it is not a JSON object or
// has none of the keys.
func rewriteKeys(payload []byte, replace map[string]string) []byte {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return payload
	}
	var out bytes.Buffer
	out.WriteByte('{')
	found := false
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return payload
		}
		key, _ := keyTok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return payload
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k := jsonKey(key)
		out.WriteString(k)
		out.WriteByte(':')
		if v, ok := replace[key]; ok {
			out.WriteString(v)
			found = true
		} else {
			out.Write(val)
		}
	}
	if !found {
		return payload
	}
	out.WriteByte('}')
	return out.Bytes()
}

// jsonKey encodes an object key without HTML escaping, as PHP's json_encode and qctl write keys.
func jsonKey(key string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(key)
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

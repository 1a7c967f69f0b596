package jobs

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeStringJobGolden(t *testing.T) {
	p := &Payload{
		UUID:        "9f0e8a4e-6f6e-4c39-9a43-2d8f0c1b7a10",
		DisplayName: "SendEmail",
		Job:         "SendEmail@handle",
		Data:        json.RawMessage(`{ "to": "a@example.com", "url": "https://x.test/a?b=1&c=<2>" }`),
		CreatedAt:   ptr[int64](1735689600),
	}
	got, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"uuid":"9f0e8a4e-6f6e-4c39-9a43-2d8f0c1b7a10","displayName":"SendEmail","job":"SendEmail@handle",` +
		`"maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,` +
		`"data":{"to":"a@example.com","url":"https://x.test/a?b=1&c=<2>"},"createdAt":1735689600}`
	if string(got) != want {
		t.Fatalf("Encode:\n got %s\nwant %s", got, want)
	}
	again, _ := p.Encode()
	if string(again) != string(got) {
		t.Fatalf("Encode is not stable:\n%s\n%s", got, again)
	}
}

func TestEncodeAllFieldsGolden(t *testing.T) {
	p := &Payload{
		UUID:          "u-1",
		DisplayName:   "Report",
		Job:           "Report@build",
		MaxTries:      ptr(3),
		MaxExceptions: ptr(2),
		FailOnTimeout: true,
		Backoff:       "1,5,10",
		Timeout:       ptr(120),
		RetryUntil:    ptr[int64](1735693200),
		Data:          json.RawMessage(`["é","\/x"]`),
		ID:            "Ab12",
		Attempts:      ptr(0),
		CreatedAt:     ptr[int64](1735689600),
	}
	got, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"uuid":"u-1","displayName":"Report","job":"Report@build","maxTries":3,"maxExceptions":2,` +
		`"failOnTimeout":true,"backoff":"1,5,10","timeout":120,"retryUntil":1735693200,"data":["é","\/x"],` +
		`"createdAt":1735689600,"id":"Ab12","attempts":0}`
	if string(got) != want {
		t.Fatalf("Encode:\n got %s\nwant %s", got, want)
	}
}

func TestEncodeRejectsWhatDecodeWould(t *testing.T) {
	if _, err := (&Payload{}).Encode(); !errors.Is(err, ErrBadPayload) {
		t.Errorf("empty job: err = %v, want ErrBadPayload", err)
	}
	if _, err := (&Payload{Job: "X", Data: json.RawMessage(`{nope`)}).Encode(); !errors.Is(err, ErrBadPayload) {
		t.Errorf("invalid data: err = %v, want ErrBadPayload", err)
	}
}

func TestNewPayload(t *testing.T) {
	before := time.Now().Unix()
	p := NewPayload("SendEmail@handle", json.RawMessage(`{"to":"a@example.com"}`))
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuidV4.MatchString(p.UUID) {
		t.Errorf("UUID = %q, want a v4 uuid", p.UUID)
	}
	if p.DisplayName != "SendEmail" || p.Job != "SendEmail@handle" || p.Name() != "SendEmail" || p.Method() != "handle" {
		t.Errorf("names = %q %q %q %q", p.DisplayName, p.Job, p.Name(), p.Method())
	}
	if p.CreatedAt == nil || *p.CreatedAt < before {
		t.Errorf("CreatedAt = %v, want now", p.CreatedAt)
	}
	if other := NewPayload("SendEmail", nil); other.UUID == p.UUID || other.Method() != "" {
		t.Errorf("second payload: uuid %q (first %q), method %q", other.UUID, p.UUID, other.Method())
	}

	raw, err := NewPayload("Ping", nil).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"data":null`) {
		t.Errorf("nil data should encode as null: %s", raw)
	}
}

func TestRoundTrip(t *testing.T) {
	p := NewPayload("SendEmail@handle", json.RawMessage(`{"to":"a@example.com","n":[1,2]}`))
	p.MaxTries, p.Backoff, p.ID, p.Attempts = ptr(5), "3", "abc", ptr(1)
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(raw) {
		t.Fatalf("round trip changed the payload:\n%s\n%s", raw, again)
	}
}

// Payloads as Laravel writes them must come back byte for byte, including keys Payload does not
// model and the explicit null Laravel writes for an object job's retryUntil.
func TestRoundTripLaravelBytes(t *testing.T) {
	for name, raw := range map[string]string{
		"laravel 12 redis object job": `{"uuid":"5b1a3f2e-1c7e-4d0e-9b1e-1f2a3b4c5d6e","displayName":"App\\Jobs\\SendEmail",` +
			`"job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":3,"maxExceptions":null,"failOnTimeout":false,` +
			`"backoff":"1,5,10","timeout":120,"retryUntil":null,"data":{"commandName":"App\\Jobs\\SendEmail",` +
			`"command":"O:18:\"App\\Jobs\\SendEmail\":0:{}","batchId":null},"createdAt":1735689600,` +
			`"id":"Zx1Yw2Vu3Ts4Rq5Po6Nm7Lk8Ji9Hg0Fe","attempts":0,"delay":null}`,
		"laravel 8 string job": `{"uuid":"u","displayName":"SendEmail","job":"SendEmail@handle","maxTries":null,` +
			`"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"data":{"url":"http:\/\/x"}}`,
	} {
		p, err := Decode([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := p.Encode()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(got) != raw {
			t.Errorf("%s:\n got %s\nwant %s", name, got, raw)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Payload
		// dataCommand is data.commandName, checked when set.
		dataCommand string
	}{
		{
			name: "laravel 8 string job on redis",
			raw: `{"uuid":"u8","displayName":"SendEmail","job":"SendEmail@handle","maxTries":null,"maxExceptions":null,` +
				`"failOnTimeout":false,"backoff":null,"timeout":null,"data":{"to":"a@example.com"},"id":"r8","attempts":0}`,
			want: Payload{UUID: "u8", DisplayName: "SendEmail", Job: "SendEmail@handle",
				Data: json.RawMessage(`{"to":"a@example.com"}`), ID: "r8", Attempts: ptr(0)},
		},
		{
			name: "laravel 11 object job",
			raw: `{"uuid":"u11","displayName":"App\\Jobs\\Report","job":"Illuminate\\Queue\\CallQueuedHandler@call",` +
				`"maxTries":5,"maxExceptions":2,"failOnTimeout":true,"backoff":"10,60","timeout":90,"retryUntil":1735693200,` +
				`"data":{"commandName":"App\\Jobs\\Report","command":"O:15:\"App\\Jobs\\Report\":0:{}"}}`,
			want: Payload{UUID: "u11", DisplayName: `App\Jobs\Report`, Job: CallQueuedHandlerJob,
				MaxTries: ptr(5), MaxExceptions: ptr(2), FailOnTimeout: true, Backoff: "10,60", Timeout: ptr(90),
				RetryUntil: ptr[int64](1735693200)},
			dataCommand: `App\Jobs\Report`,
		},
		{
			name: "laravel 12 with createdAt and delay",
			raw: `{"uuid":"u12","displayName":"Ping","job":"Ping","maxTries":null,"maxExceptions":null,"failOnTimeout":false,` +
				`"backoff":null,"timeout":null,"data":"","createdAt":1735689600,"delay":30}`,
			want: Payload{UUID: "u12", DisplayName: "Ping", Job: "Ping", Data: json.RawMessage(`""`),
				CreatedAt: ptr[int64](1735689600)},
		},
		{
			name: "think-queue 3 with timeoutAt",
			raw: `{"job":"think\\queue\\CallQueuedHandler@call","maxTries":3,"timeout":60,"timeoutAt":1735693200,` +
				`"data":{"commandName":"app\\job\\Hello","command":"O:13:\"app\\job\\Hello\":0:{}"},"id":"t3","attempts":0}`,
			want: Payload{Job: `think\queue\CallQueuedHandler@call`, MaxTries: ptr(3), Timeout: ptr(60),
				RetryUntil: ptr[int64](1735693200), ID: "t3", Attempts: ptr(0)},
			dataCommand: `app\job\Hello`,
		},
		{
			name: "think-queue 1.x",
			raw:  `{"job":"app\\job\\Hello@fire","data":{"a":1},"id":"t1","attempts":1}`,
			want: Payload{Job: `app\job\Hello@fire`, Data: json.RawMessage(`{"a":1}`), ID: "t1", Attempts: ptr(1)},
		},
		{
			name: "backoff as a number, numeric id",
			raw:  `{"job":"A","backoff":3,"id":12345}`,
			want: Payload{Job: "A", Backoff: "3", ID: "12345"},
		},
		{
			name: "backoff as an array",
			raw:  `{"job":"A","backoff":[1,5,10]}`,
			want: Payload{Job: "A", Backoff: "1,5,10"},
		},
		{
			name: "unknown keys ignored, null settings, whole-number forms",
			raw:  ` {"tags":["x"],"job":"A","displayName":null,"pushedAt":"1.5","maxTries":"4","timeout":6e1,"failOnTimeout":null} `,
			want: Payload{Job: "A", MaxTries: ptr(4), Timeout: ptr(60)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			checkPayload(t, got, &tt.want)
			if tt.want.Data != nil && string(got.Data) != string(tt.want.Data) {
				t.Errorf("Data = %s, want %s", got.Data, tt.want.Data)
			}
			if tt.dataCommand != "" {
				var d struct{ CommandName string }
				if err := json.Unmarshal(got.Data, &d); err != nil || d.CommandName != tt.dataCommand {
					t.Errorf("data.commandName = %q (%v), want %q", d.CommandName, err, tt.dataCommand)
				}
			}
		})
	}
}

func checkPayload(t *testing.T, got, want *Payload) {
	t.Helper()
	str := func(field, g, w string) {
		if g != w {
			t.Errorf("%s = %q, want %q", field, g, w)
		}
	}
	str("UUID", got.UUID, want.UUID)
	str("DisplayName", got.DisplayName, want.DisplayName)
	str("Job", got.Job, want.Job)
	str("Backoff", got.Backoff, want.Backoff)
	str("ID", got.ID, want.ID)
	if got.FailOnTimeout != want.FailOnTimeout {
		t.Errorf("FailOnTimeout = %v, want %v", got.FailOnTimeout, want.FailOnTimeout)
	}
	eqInt := func(field string, g, w *int) {
		if (g == nil) != (w == nil) || (g != nil && *g != *w) {
			t.Errorf("%s = %s, want %s", field, show(g), show(w))
		}
	}
	eqInt64 := func(field string, g, w *int64) {
		if (g == nil) != (w == nil) || (g != nil && *g != *w) {
			t.Errorf("%s = %s, want %s", field, show(g), show(w))
		}
	}
	eqInt("MaxTries", got.MaxTries, want.MaxTries)
	eqInt("MaxExceptions", got.MaxExceptions, want.MaxExceptions)
	eqInt("Timeout", got.Timeout, want.Timeout)
	eqInt("Attempts", got.Attempts, want.Attempts)
	eqInt64("RetryUntil", got.RetryUntil, want.RetryUntil)
	eqInt64("CreatedAt", got.CreatedAt, want.CreatedAt)
}

func show[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	b, _ := json.Marshal(*p)
	return string(b)
}

// think-queue reads its expiry from "timeoutAt"; re-encoding must not move it to Laravel's key.
func TestEncodeKeepsThinkQueueExpiryKey(t *testing.T) {
	p, err := Decode([]byte(`{"job":"A","timeoutAt":100,"data":null}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := p.Encode()
	if !strings.Contains(string(raw), `"timeoutAt":100`) || strings.Contains(string(raw), "retryUntil") {
		t.Errorf("Encode = %s, want the expiry under timeoutAt", raw)
	}
}

func TestDecodeBad(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{``, `bad job payload: payload is empty`},
		{`hello world`, `bad job payload: not valid JSON: hello world`},
		{`{"job":"A"} trailing`, `bad job payload: not valid JSON: {"job":"A"} trailing`},
		{`[1,2]`, `bad job payload: not a JSON object (it is an array): [1,2]`},
		{`"job"`, `bad job payload: not a JSON object (it is a string): "job"`},
		{`{}`, `bad job payload: missing "job": {}`},
		{`{"job":""}`, `bad job payload: "job" is empty: {"job":""}`},
		{`{"job":5}`, `bad job payload: "job" is a number, want a string: {"job":5}`},
		{`{"job":null}`, `bad job payload: "job" is null, want a string: {"job":null}`},
		{`{"job":"A","maxTries":"many"}`, `bad job payload: "maxTries" is "many", want a whole number or null: {"job":"A","maxTries":"many"}`},
		{`{"job":"A","timeout":1.5}`, `bad job payload: "timeout" is 1.5, want a whole number or null: {"job":"A","timeout":1.5}`},
		{`{"job":"A","backoff":{"a":1}}`, `bad job payload: "backoff" is an object, want a string like "1,5,10", a number or an array of numbers: {"job":"A","backoff":{"a":1}}`},
		{`{"job":"A","backoff":[1,"x"]}`, `bad job payload: "backoff" item 2 is "x", want whole seconds: {"job":"A","backoff":[1,"x"]}`},
		{"\x00\xff{", `bad job payload: not valid JSON: \x00\xff{`},
	}
	for _, tt := range tests {
		p, err := Decode([]byte(tt.raw))
		if !errors.Is(err, ErrBadPayload) {
			t.Errorf("Decode(%q) = %v, %v; want an ErrBadPayload error", tt.raw, p, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Decode(%q) error:\n got %s\nwant %s", tt.raw, err, tt.want)
		}
	}
}

func TestDecodeBadQuotesOnlyTheStart(t *testing.T) {
	raw := `{"data":"` + strings.Repeat("é", 100) + `"}`
	_, err := Decode([]byte(raw))
	if !errors.Is(err, ErrBadPayload) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `bad job payload: missing "job": {"data":"éé`) || !strings.HasSuffix(msg, "... (211 bytes)") {
		t.Errorf("message = %q", msg)
	}
	if len(msg) > 160 || strings.ContainsRune(msg, '\uFFFD') {
		t.Errorf("message is too long or cut a character: %q", msg)
	}
}

func TestNewThinkPayload(t *testing.T) {
	p := NewThinkPayload(`app\job\Hello@fire`, json.RawMessage(`{ "a": 1 }`))
	if !p.IsThink() || p.UUID != "" || p.DisplayName != "" || p.CreatedAt != nil || p.Name() != `app\job\Hello` || p.Method() != "fire" {
		t.Errorf("NewThinkPayload = %+v", p)
	}
	for _, tc := range []struct {
		name string
		edit func(p *Payload)
		want string
	}{
		{"as think-queue 3 pushes", func(*Payload) {},
			`{"job":"app\\job\\Hello@fire","maxTries":null,"timeout":null,"data":{"a":1}}`},
		{"with qctl push's settings", func(p *Payload) { p.MaxTries, p.Timeout, p.Backoff = ptr(3), ptr(60), "1,5" },
			`{"job":"app\\job\\Hello@fire","maxTries":3,"timeout":60,"data":{"a":1},"backoff":"1,5"}`},
		{"with an expiry", func(p *Payload) { p.RetryUntil = ptr[int64](1735693200) },
			`{"job":"app\\job\\Hello@fire","maxTries":null,"timeout":null,"timeoutAt":1735693200,"data":{"a":1}}`},
		{"given a uuid, it is Laravel's", func(p *Payload) { p.UUID = "u" },
			`{"uuid":"u","displayName":"","job":"app\\job\\Hello@fire","maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"data":{"a":1}}`},
	} {
		p := NewThinkPayload(`app\job\Hello@fire`, json.RawMessage(`{ "a": 1 }`))
		tc.edit(p)
		got, err := p.Encode()
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: Encode = %s, %v\nwant %s", tc.name, got, err, tc.want)
		}
	}
	if raw, _ := NewThinkPayload("Ping", nil).Encode(); string(raw) != `{"job":"Ping","maxTries":null,"timeout":null,"data":null}` {
		t.Errorf("nil data: %s", raw)
	}
}

// Payloads as think-queue writes them must come back byte for byte (PHP's escaped slashes aside,
// which Decode keeps inside data), without growing Laravel's keys.
func TestRoundTripThinkBytes(t *testing.T) {
	for name, raw := range map[string]string{
		"think-queue 3 database string job": `{"job":"app\\job\\Hello","maxTries":null,"timeout":null,"data":{"url":"https:\/\/x"}}`,
		"think-queue 3 redis object job": `{"job":"think\\queue\\CallQueuedHandler@call","maxTries":3,"timeout":60,"timeoutAt":1735693200,` +
			`"data":{"commandName":"app\\job\\Hello","command":"O:13:\"app\\job\\Hello\":0:{}"},"id":"Zx1Yw2Vu3Ts4Rq5Po6Nm7Lk8Ji9Hg0Fe","attempts":2}`,
		"think-queue 3 empty data, unknown key": `{"job":"Ping","maxTries":null,"timeout":null,"data":"","trace":"abc"}`,
		"think-queue 1.x redis":                 `{"job":"app\\job\\Hello@fire","data":{"a":1},"id":"t1","attempts":1}`,
	} {
		p, err := Decode([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !p.IsThink() {
			t.Errorf("%s: not recognised as think-queue's", name)
		}
		got, err := p.Encode()
		if err != nil || string(got) != raw {
			t.Errorf("%s:\n got %s, %v\nwant %s", name, got, err, raw)
		}
	}
	// A Laravel payload stays Laravel's even with a null displayName (closures) or no uuid
	// (Laravel before 6).
	for _, raw := range []string{
		`{"displayName":null,"job":"A","data":null}`,
		`{"displayName":"A","job":"A","maxTries":null,"timeout":null,"data":null}`,
	} {
		if p, err := Decode([]byte(raw)); err != nil || p.IsThink() {
			t.Errorf("Decode(%s) = think-shaped %v, %v; want Laravel's", raw, p != nil && p.IsThink(), err)
		}
	}
}

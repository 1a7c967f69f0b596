package jobs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// laravelPayload reads a payload that testdata/laravel/gen.php made with Laravel's own
// Queue::createPayload.
func laravelPayload(t testing.TB, name string) *Payload {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "laravel", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sendEmailProps is what the command of testdata/laravel/send_email.json decodes to: the
// constructor's arguments (a model, a collection of models, a protected and a private property)
// and what Laravel's traits add. chained holds the next job still serialized, as Laravel keeps it.
const sendEmailProps = `{"@class":"App\\Jobs\\SendEmail","tries":3,` +
	`"user":{"@class":"Illuminate\\Contracts\\Database\\ModelIdentifier","class":"App\\Models\\User","id":42,"relations":[],"connection":null},` +
	`"recipients":{"@class":"Illuminate\\Contracts\\Database\\ModelIdentifier","class":"App\\Models\\User","id":[7,8],"relations":[],"connection":null},` +
	`"subject":"Welcome, Ada","tags":["welcome","onboarding"],"job":null,"connection":"redis","queue":"emails",` +
	`"chainConnection":null,"chainQueue":null,"chainCatchCallbacks":null,"delay":10,"afterCommit":null,"middleware":[],` +
	`"chained":["O:19:\"App\\Jobs\\AfterEmail\":10:{s:4:\"note\";s:4:\"sent\";s:10:\"connection\";N;s:5:\"queue\";N;` +
	`s:15:\"chainConnection\";N;s:10:\"chainQueue\";N;s:19:\"chainCatchCallbacks\";N;s:5:\"delay\";N;` +
	`s:11:\"afterCommit\";N;s:10:\"middleware\";a:0:{}s:7:\"chained\";a:0:{}}"]}`

func TestCommandDecodesRealLaravelPayloads(t *testing.T) {
	for _, tc := range []struct {
		fixture, class, props string
	}{
		{"send_email", `App\Jobs\SendEmail`, sendEmailProps},
		{"scalars", "Scalars", `{"@class":"Scalars","to":"ada@example.com","count":3,"big":9223372036854775807,` +
			`"negative":-9223372036854775808,"ratio":1.5,"tenth":0.1,"whole":2,"huge":1e+25,"tiny":1e-10,` +
			`"yes":true,"no":false,"nothing":null,"empty":"","unicode":"Grüße, 世界 🚀",` +
			`"tricky":"quote\" semi; brace} colon: s:3:\"x\"; NUL\u0000end",` +
			`"backslashes":"C:\\new\\x41's \\ and App\\Jobs\\xNext","json":"{\"line\":\"one\\ntwo\",\"tab\":\"\\t\"}"}`},
		// A parent's privates: the child's public "name" and own private "secret" win; the
		// parent's "onlyInBase" has no rival and stays.
		{"visibility", "Visibility", `{"@class":"Visibility","onlyInBase":"base only","name":"public name",` +
			`"subject":"Hello","secret":"own secret"}`},
		{"arrays", "Arrays", `{"@class":"Arrays","list":["a","b","c"],"empty":[],"map":{"x":1,"y":{"z":null}},` +
			`"sparse":{"0":"zero","2":"two"},"reordered":{"1":"one","0":"zero"},"mixed":{"0":"first","key":"value"},` +
			`"numericKeys":{"5":"five","-1":"minus one"},"nested":[[1,2],[3,[4,5]]],` +
			`"items":[{"@class":"Item","sku":"A-1","qty":2},{"@class":"Item","sku":"B-2","qty":1}]}`},
		// r:2 repeats the object in "first"; R:6 aliases the string in "value".
		{"references", "References", `{"@class":"References","first":{"@class":"Item","sku":"SAME","qty":1},` +
			`"second":{"@class":"Item","sku":"SAME","qty":1},"value":"shared","alias":"shared"}`},
		{"enum", "WithEnum", `{"@class":"WithEnum","status":"Active"}`},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			class, props, err := laravelPayload(t, tc.fixture).Command()
			if err != nil {
				t.Fatal(err)
			}
			if class != tc.class {
				t.Errorf("class = %q, want %q", class, tc.class)
			}
			if string(props) != tc.props {
				t.Errorf("props:\n got %s\nwant %s", props, tc.props)
			}
			if !json.Valid(props) {
				t.Errorf("props are not valid JSON")
			}
		})
	}
}

func TestCommandErrorsNameTheClass(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Payload
		want string // the whole error text, or its start when it ends in "..."
	}{
		{"nested closure", laravelPayload(t, "closure"),
			`cannot decode the command of WithClosure: callback: Opis\Closure\SerializableClosure was written by the class's own serializer (C:), which only PHP can read (at byte 37)`},
		{"custom-serialized job", laravelPayload(t, "custom"),
			`cannot decode the command of Custom: the class has its own serializer (C:), which only PHP can read`},
		{"cycle", laravelPayload(t, "cycle"),
			`cannot decode the command of Cycle: self.self: r:2 refers to a value that contains it, a cycle JSON cannot express (at byte 52)`},
		{"encrypted", object(`App\Jobs\Secret`, "eyJpdiI6IjEyMyIsInZhbHVlIjoiYWJjIn0="),
			`cannot decode the command of App\Jobs\Secret: the command is encrypted (the job implements ShouldBeEncrypted), so qctl needs app_key (the application's APP_KEY) to read it`},
		{"not serialized", object("X", "hello"), `cannot decode the command of X: data.command is not a serialized PHP object: it starts "hello"`},
		{"no command", &Payload{Job: CallQueuedHandlerJob, DisplayName: "X", Data: json.RawMessage(`{"commandName":"X"}`)},
			`cannot decode the command of X: data.command is missing or not a string`},
		{"data not an object", &Payload{Job: CallQueuedHandlerJob, DisplayName: "X", Data: json.RawMessage(`[1]`)},
			`cannot decode the command of X: data is not an object with a command: ...`},
		{"no class anywhere", &Payload{Job: CallQueuedHandlerJob, Data: json.RawMessage(`{}`)},
			`cannot decode the command of an unnamed job class: data.command is missing or not a string`},
		{"truncated string", object("X", `O:1:"X":1:{s:2:"to";s:10:"ab`),
			`cannot decode the command of X: to: string of 10 bytes is cut short: only 2 bytes follow (at byte 20)`},
		{"short string length", object("X", `O:1:"X":1:{s:2:"to";s:1:"ab";}`),
			`cannot decode the command of X: to: string of 1 bytes does not end where its length says (at byte 20)`},
		{"INF", object("X", `O:1:"X":1:{s:1:"f";d:INF;}`), `cannot decode the command of X: f: float INF has no JSON form (at byte 19)`},
		{"bad bool", object("X", `O:1:"X":1:{s:1:"b";b:2;}`), `cannot decode the command of X: b: boolean "2" is not 0 or 1 (at byte 19)`},
		{"trailing bytes", object("X", `O:1:"X":0:{}junk`), `cannot decode the command of X: 4 unexpected bytes after the value (at byte 12)`},
		{"dangling reference", object("X", `O:1:"X":1:{s:1:"a";r:9;}`), `cannot decode the command of X: a: r:9 refers to no earlier value (at byte 19)`},
		{"reserved key", object("X", `O:1:"X":1:{s:6:"@class";i:1;}`),
			`cannot decode the command of X: X has a property named "@class", which qctl uses for class names (at byte 0)`},
		{"huge count", object("X", `O:1:"X":99999:{}`), `cannot decode the command of X: member count 99999 is more than the bytes that follow (at byte 0)`},
		{"unknown type", object("X", `O:1:"X":1:{s:1:"a";S:1:"a";}`), `cannot decode the command of X: a: unsupported value type 'S' (at byte 19)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, props, err := tc.p.Command()
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("err = %v, want one wrapping ErrBadCommand", err)
			}
			if props != nil {
				t.Errorf("props = %s alongside an error", props)
			}
			if prefix, cut := strings.CutSuffix(tc.want, "..."); cut && strings.HasPrefix(err.Error(), prefix) {
				return
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

// TestBinaryStringsAreRejected reads a string that is not UTF-8, which JSON cannot carry. It
// cannot arrive through Command, whose input was JSON text and so is UTF-8 throughout.
func TestBinaryStringsAreRejected(t *testing.T) {
	_, err := unserializePHP([]byte("O:1:\"X\":1:{s:1:\"b\";s:2:\"\xff\xfe\";}"))
	if err == nil || err.Error() != "b: string is binary, not UTF-8 text, and JSON cannot carry it (at byte 19)" {
		t.Fatalf("err = %v", err)
	}
}

// object builds an object-job payload around a serialized command.
func object(class, command string) *Payload {
	data, _ := json.Marshal(map[string]string{"commandName": class, "command": command})
	return &Payload{Job: CallQueuedHandlerJob, DisplayName: class, Data: data}
}

func TestCommandOfAStringJobIsAnError(t *testing.T) {
	p := NewPayload("SendEmail@handle", json.RawMessage(`{"command":"O:1:\"X\":0:{}"}`))
	if _, _, err := p.Command(); err == nil || errors.Is(err, ErrBadCommand) {
		t.Fatalf("Command of a string job = %v, want a plain error", err)
	}
}

// TestEveryCutOfARealCommandFails cuts a real command at every byte: each prefix must be an error
// that names the class, never a panic or a quietly shorter value.
func TestEveryCutOfARealCommandFails(t *testing.T) {
	_, _, err := laravelPayload(t, "send_email").Command()
	if err != nil {
		t.Fatal(err)
	}
	var data struct{ Command string }
	if err := json.Unmarshal(laravelPayload(t, "send_email").Data, &data); err != nil {
		t.Fatal(err)
	}
	for n := 2; n < len(data.Command); n++ {
		_, _, err := object(`App\Jobs\SendEmail`, data.Command[:n]).Command()
		if !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), `App\Jobs\SendEmail`) {
			t.Fatalf("cut at %d: err = %v", n, err)
		}
	}
}

func TestNestingAndExpansionAreBounded(t *testing.T) {
	deep := `O:1:"X":1:{s:1:"a";` + strings.Repeat("a:1:{i:0;", maxPHPDepth+1) + "N;" + strings.Repeat("}", maxPHPDepth+1) + "}"
	if _, _, err := object("X", deep).Command(); !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), "levels deep") {
		t.Errorf("deep nesting: err = %v", err)
	}
	// Property l<i> is an array holding l<i-1> twice through PHP references (R:), so the JSON
	// doubles with every level: 30 levels would be billions of values.
	const levels = 30
	bomb := `O:1:"X":` + strconv.Itoa(levels+1) + `:{s:2:"l0";a:2:{i:0;s:1:"x";i:1;s:1:"x";}`
	prev, next := 2, 5 // X takes slot 1, l0 slot 2 and its strings 3 and 4; an R: takes none
	for i := 1; i <= levels; i++ {
		name := "l" + strconv.Itoa(i)
		ref := "R:" + strconv.Itoa(prev) + ";"
		bomb += `s:` + strconv.Itoa(len(name)) + `:"` + name + `";a:2:{i:0;` + ref + `i:1;` + ref + `}`
		prev, next = next, next+1
	}
	bomb += "}"
	if _, _, err := object("X", bomb).Command(); !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("reference bomb: err = %v", err)
	}
	// The same shape, a few levels deep, is fine: references are copied at each use.
	small := `O:1:"X":2:{s:2:"l0";a:2:{i:0;s:1:"x";i:1;s:1:"x";}s:2:"l1";a:2:{i:0;R:2;i:1;R:2;}}`
	if _, props, err := object("X", small).Command(); err != nil || string(props) != `{"@class":"X","l0":["x","x"],"l1":[["x","x"],["x","x"]]}` {
		t.Errorf("two levels of references = %s, %v", props, err)
	}
}

// FuzzCommand checks that no input panics and that whatever decodes is valid JSON.
func FuzzCommand(f *testing.F) {
	for _, name := range []string{"send_email", "scalars", "visibility", "arrays", "references", "enum", "closure", "cycle"} {
		var data struct{ Command string }
		raw, err := os.ReadFile(filepath.Join("testdata", "laravel", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		p, err := Decode(raw)
		if err != nil || json.Unmarshal(p.Data, &data) != nil {
			f.Fatal(name, err)
		}
		f.Add(data.Command)
	}
	f.Fuzz(func(t *testing.T, command string) {
		_, props, err := object("X", command).Command()
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error does not wrap ErrBadCommand: %v", err)
			}
			return
		}
		if !json.Valid(props) {
			t.Fatalf("invalid JSON %q from %q", props, command)
		}
	})
}

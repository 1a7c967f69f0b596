package interop

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// richData is job data that is easy to damage: nesting, non-ASCII text, escapes, numbers PHP and
// Go could spell differently, a 64-bit integer past float64's exact range, null and an empty list.
// (No empty object: PHP's json_decode turns {} into an array, which Laravel then writes as [].)
const richData = `{"user":{"name":"Zoë Åström","email":"zoe@example.com","roles":["admin","ops"]},` +
	`"greeting":"日本語 🚀 \"quoted\" back\\slash/ tab\t newline\n","items":[{"sku":"A-1","qty":2,"price":3.25},` +
	`{"sku":"B/2","qty":-7,"price":0.1}],"big":9007199254740993,"flags":{"gift":true,"note":null},"empty":[]}`

// reportData is what the Go handler "Reports" binds into its report struct.
const reportData = `{"title":"Q3 — résumé","year":2026,"tags":["finance","日本"],"totals":{"eur":1234.5,"usd":-0.25},` +
	`"owner":{"name":"Åsa","email":"asa@example.com"}}`

// TestLaravelPushesQctlRuns: jobs pushed by Laravel's own queue (push, later, pushRaw, and an
// object job) run under qctl, each routed by its name to the right handler, with the data
// exactly as Laravel wrote it; nothing is left of the queue afterwards.
func TestLaravelPushesQctlRuns(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		e.addHandlers(
			e.execHandler(`Interop\RecordJob@handle`), // the exact job string
			e.execHandler(`Interop\Nightly`),          // a displayName that is not the job's class
			e.execHandler(`Interop\SendInvoice`),      // an object job's class (its displayName)
		)
		queue := "from-laravel"
		rawUUID := "5b1d4c1e-8f1a-4e7b-9c55-" + randomSuffix(t)[:10] + "aa"
		raw := fmt.Sprintf(`{"uuid":%q,"displayName":"Interop\\Nightly","job":"Interop\\NightlyJob@run",`+
			`"maxTries":2,"maxExceptions":null,"failOnTimeout":false,"backoff":"5","timeout":30,`+
			`"data":{"date":"2026-11-21","ids":[3,1,2]},"id":"raw%s","attempts":0,"tags":["nightly","interop"]}`,
			rawUUID, randomSuffix(t))
		delay := int64(2)
		notBefore := time.Now().Unix() + delay
		ids := e.laravelPush(
			map[string]any{"push": `Interop\RecordJob@handle`, "data": json.RawMessage(richData), "queue": queue},
			map[string]any{"push": "Reports@build", "data": json.RawMessage(reportData), "queue": queue},
			map[string]any{"raw": raw, "queue": queue},
			map[string]any{"object": []any{7, "zoe@example.com", json.RawMessage(`[{"sku":"A-1","qty":2}]`), 0.15, true}, "queue": queue},
			map[string]any{"later": `Interop\RecordJob@handle`, "delay": delay, "data": map[string]any{"n": 3, "when": "later"}, "queue": queue},
		)
		if ids[2].UUID != rawUUID {
			t.Fatalf("pushRaw job's uuid %q, want %q", ids[2].UUID, rawUUID)
		}

		// The Go program that embeds qctl has a Go handler for Reports; the rest are exec handlers.
		r := e.embedded([]string{"Reports"}, "work", e.b.conn, "--queue", queue, "--max-jobs", "5", "--sleep", "0.1", "--max-time", "40")
		if r.code != 0 || strings.Count(r.stdout, "DONE") != 5 {
			t.Fatalf("qctl work did not run the 5 jobs: %s", r)
		}

		execs := e.execRecords()
		if len(execs) != 4 {
			t.Fatalf("exec handlers ran %d times, want 4: %+v", len(execs), execs)
		}
		byUUID := map[string]execRecord{}
		for _, rec := range execs {
			byUUID[rec.UUID] = rec
			if rec.Queue != queue || rec.Attempts != "1" {
				t.Errorf("job %s ran on queue %q attempt %s, want %q attempt 1", rec.UUID, rec.Queue, rec.Attempts, queue)
			}
		}
		check := func(uuid, handler, job string, data string) execRecord {
			t.Helper()
			rec, ok := byUUID[uuid]
			if !ok {
				t.Fatalf("job %s (%s) did not reach an exec handler; they got %+v", uuid, job, execs)
			}
			if rec.Handler != "exec:"+handler || rec.Job != job {
				t.Errorf("job %s went to %s as %q, want %s as %q", uuid, rec.Handler, rec.Job, handler, job)
			}
			got, _ := json.Marshal(rec.Payload["data"])
			if data != "" && !sameJSON(t, got, []byte(data)) {
				t.Errorf("job %s data arrived as\n%s\nwant\n%s", uuid, got, data)
			}
			return rec
		}
		check(ids[0].UUID, `Interop\RecordJob@handle`, `Interop\RecordJob@handle`, richData)
		nightly := check(ids[2].UUID, `Interop\Nightly`, `Interop\NightlyJob@run`, `{"date":"2026-11-21","ids":[3,1,2]}`)
		if tags, _ := json.Marshal(nightly.Payload["tags"]); string(tags) != `["nightly","interop"]` {
			t.Errorf("pushRaw payload's own key tags arrived as %s", tags)
		}
		later := check(ids[4].UUID, `Interop\RecordJob@handle`, `Interop\RecordJob@handle`, `{"n":3,"when":"later"}`)
		if later.At < notBefore {
			t.Errorf("the job pushed with later(%d) ran at %d, before %d", delay, later.At, notBefore)
		}
		if last := execs[len(execs)-1]; last.UUID != ids[4].UUID {
			t.Errorf("the delayed job did not run last; the last was %s", last.Job)
		}

		// The object job reaches the exec handler of its class with Laravel's serialized
		// command byte for byte (NUL bytes of the protected property included).
		inv := check(ids[3].UUID, `Interop\SendInvoice`, `Illuminate\Queue\CallQueuedHandler@call`, "")
		data, _ := inv.Payload["data"].(map[string]any)
		command, _ := data["command"].(string)
		if data["commandName"] != `Interop\SendInvoice` || inv.Payload["displayName"] != `Interop\SendInvoice` {
			t.Errorf("object job payload lost its class: %s", inv.RawPayload)
		}
		for _, want := range []string{`O:19:"Interop\SendInvoice":`, `s:9:"invoiceId";i:7;`, `s:5:"email";s:15:"zoe@example.com";`,
			`s:5:"lines";a:1:{i:0;a:2:{s:3:"sku";s:3:"A-1";s:3:"qty";i:2;}}`, `s:8:"discount";d:0.15;`, "s:9:\"\x00*\x00urgent\";b:1;"} {
			if !strings.Contains(command, want) {
				t.Errorf("serialized command does not contain %q:\n%q", want, command)
			}
		}

		gos := e.goRecords()
		if len(gos) != 1 {
			t.Fatalf("the Go handler ran %d times, want once: %+v", len(gos), gos)
		}
		if g := gos[0]; g.UUID != ids[1].UUID || g.Job != "Reports@build" || g.Queue != queue || g.Attempts != 1 || !sameJSON(t, g.Data, []byte(reportData)) {
			t.Errorf("Go handler got %+v (data %s), want job %s Reports@build attempt 1 with %s", g, g.Data, ids[1].UUID, reportData)
		}
		e.b.expectEmpty(t, queue)
	})
}

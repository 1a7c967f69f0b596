package interop

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLaravelObjectJobReachesHandlers: an object job Laravel dispatched with constructor arguments
// (Queue::push(new Interop\SendInvoice(7, 'zoe@example.com', [...], 0.15, true))) reaches a Go
// handler, routed by its class, whose Bind gets those argument values by property name; and an
// exec handler with stdin = "data" reads them as JSON, protected properties included.
func TestLaravelObjectJobReachesHandlers(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{kindRedis, kindSQLite, kindPostgres} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind, "")
			queue := "objects"
			lines := `[{"sku":"A-1","qty":2},{"sku":"Ü-9","qty":1}]`
			args := []any{7, "zoe@example.com", json.RawMessage(lines), 0.15, true}

			// A Go program embedding qctl with a handler registered for the class.
			goJob := e.laravelPush(map[string]any{"object": args, "queue": queue})[0]
			r := e.embedded([]string{`Interop\SendInvoice`}, "work", e.b.conn, "--queue", queue, "--stop-when-empty")
			if r.code != 0 || !strings.Contains(r.stdout, "DONE") {
				t.Fatalf("qctl work did not run the object job: %s", r)
			}
			gos := e.goRecords()
			want := `{"invoiceId":7,"email":"zoe@example.com","lines":` + lines + `,"discount":0.15}`
			if len(gos) != 1 || gos[0].UUID != goJob.UUID || gos[0].Job != `Illuminate\Queue\CallQueuedHandler@call` || !sameJSON(t, gos[0].Data, []byte(want)) {
				t.Fatalf("the Go handler got %+v, want job %s bound to %s", gos, goJob.UUID, want)
			}
			e.b.expectEmpty(t, queue)

			// An exec handler that reads the decoded command instead of the payload.
			e.addHandlers(e.execHandler(`Interop\SendInvoice`) + "stdin = \"data\"\n")
			if r := e.qctl("failed"); r.code == 2 && strings.Contains(r.stdout+r.stderr, "stdin") {
				t.Skip(`waits for the exec handler option stdin = "data" in queue.toml (config.Handler.Stdin): ` + strings.TrimSpace(r.stderr))
			}
			execJob := e.laravelPush(map[string]any{"object": args, "queue": queue})[0]
			e.qctlOK("work", e.b.conn, "--queue", queue, "--stop-when-empty")
			recs := e.execRecords()
			if len(recs) != 1 || recs[0].UUID != execJob.UUID || recs[0].Handler != `exec:Interop\SendInvoice` {
				t.Fatalf("the exec handler ran %+v, want job %s once", recs, execJob.UUID)
			}
			got := recs[0].Payload
			gotLines, _ := json.Marshal(got["lines"])
			if got["invoiceId"] != json.Number("7") || got["email"] != "zoe@example.com" || got["discount"] != json.Number("0.15") ||
				got["urgent"] != true || !sameJSON(t, gotLines, []byte(lines)) {
				t.Errorf("exec handler read the command as %s", recs[0].RawPayload)
			}
			e.b.expectEmpty(t, queue)
		})
	}
}

package interop

import (
	"encoding/json"
	"strings"
	"testing"
)

// invoiceLines and invoiceArgs are the constructor arguments of the object job
// Interop\SendInvoice (jobs.php): an int, a string, an array of arrays, a float and a protected bool.
const invoiceLines = `[{"sku":"A-1","qty":2},{"sku":"Ü-9","qty":1}]`

var invoiceArgs = []any{7, "zoe@example.com", json.RawMessage(invoiceLines), 0.15, true}

// TestLaravelObjectJobReachesGoHandler: an object job Laravel dispatched with constructor
// arguments (Queue::push(new Interop\SendInvoice(7, 'zoe@example.com', [...], 0.15, true))) reaches
// the Go handler registered for its class, whose Bind gets those values by property name.
func TestLaravelObjectJobReachesGoHandler(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		queue := "objects"
		pushed := e.laravelPush(map[string]any{"object": invoiceArgs, "queue": queue})[0]
		r := e.embedded([]string{`Interop\SendInvoice`}, "work", e.b.conn, "--queue", queue, "--stop-when-empty")
		if r.code != 0 || !strings.Contains(r.stdout, "DONE") {
			t.Fatalf("qctl work did not run the object job: %s", r)
		}
		gos := e.goRecords()
		want := `{"invoiceId":7,"email":"zoe@example.com","lines":` + invoiceLines + `,"discount":0.15}`
		if len(gos) != 1 || gos[0].UUID != pushed.UUID || gos[0].Job != `Illuminate\Queue\CallQueuedHandler@call` || !sameJSON(t, gos[0].Data, []byte(want)) {
			t.Fatalf("the Go handler got %+v, want job %s bound to %s", gos, pushed.UUID, want)
		}
		e.b.expectEmpty(t, queue)
	})
}

// TestLaravelObjectJobReachesExecHandlerData: an exec handler with stdin = "data" reads an object
// job's constructor arguments as JSON, protected properties included, instead of the payload.
func TestLaravelObjectJobReachesExecHandlerData(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		queue := "objects"
		e.addHandlers(e.execHandler(`Interop\SendInvoice`) + "stdin = \"data\"\n")
		pushed := e.laravelPush(map[string]any{"object": invoiceArgs, "queue": queue})[0]
		e.qctlOK("work", e.b.conn, "--queue", queue, "--stop-when-empty")
		recs := e.execRecords()
		if len(recs) != 1 || recs[0].UUID != pushed.UUID || recs[0].Handler != `exec:Interop\SendInvoice` {
			t.Fatalf("the exec handler ran %+v, want job %s once", recs, pushed.UUID)
		}
		got := recs[0].Payload
		gotLines, _ := json.Marshal(got["lines"])
		if got["invoiceId"] != json.Number("7") || got["email"] != "zoe@example.com" || got["discount"] != json.Number("0.15") ||
			got["urgent"] != true || !sameJSON(t, gotLines, []byte(invoiceLines)) {
			t.Errorf("exec handler read the command as %s", recs[0].RawPayload)
		}
		e.b.expectEmpty(t, queue)
	})
}

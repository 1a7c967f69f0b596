package interop

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// newAppKey returns a fresh APP_KEY in Laravel's "base64:" form (`php artisan key:generate`).
func newAppKey(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// useAppKey gives the Laravel side APP_KEY key with cipher, and qctl app_key qctlKey ("" for
// none), at the top of its queue.toml where a top-level key must go.
func (e *env) useAppKey(key, cipher, qctlKey string) {
	e.t.Helper()
	e.b.phpEnv = append(e.b.phpEnv, "QCTL_PHP_APP_KEY="+key, "QCTL_PHP_CIPHER="+cipher)
	if qctlKey == "" {
		return
	}
	old, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append([]byte("app_key = \""+qctlKey+"\"\n"), old...), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// TestLaravelEncryptedJobRunsOnQctl: a ShouldBeEncrypted job Laravel dispatched (its command
// sealed with APP_KEY, AES-256-CBC, Laravel's default cipher) reaches an exec handler with its
// constructor arguments decrypted, with qctl given the same app_key.
func TestLaravelEncryptedJobRunsOnQctl(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		key := newAppKey(t)
		e.useAppKey(key, "AES-256-CBC", key)
		checkEncryptedRun(t, e)
	})
}

// TestLaravelEncryptedJobGCM: the same with config/app.php's cipher set to AES-256-GCM, whose
// payload carries a tag instead of a MAC.
func TestLaravelEncryptedJobGCM(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kindRedis, "")
	key := newAppKey(t)
	e.useAppKey(key, "AES-256-GCM", key)
	checkEncryptedRun(t, e)
}

func checkEncryptedRun(t *testing.T, e *env) {
	t.Helper()
	queue := "secrets"
	e.addHandlers(e.execHandler(`Interop\SecretInvoice`) + "stdin = \"data\"\n")
	pushed := e.laravelPush(map[string]any{"encrypted": invoiceArgs, "queue": queue})[0]
	e.qctlOK("work", e.b.conn, "--queue", queue, "--stop-when-empty")
	recs := e.execRecords()
	if len(recs) != 1 || recs[0].UUID != pushed.UUID {
		t.Fatalf("the exec handler ran %+v, want job %s once", recs, pushed.UUID)
	}
	got := recs[0].Payload
	gotLines, _ := json.Marshal(got["lines"])
	if got["@class"] != `Interop\SecretInvoice` || got["invoiceId"] != json.Number("7") || got["email"] != "zoe@example.com" ||
		!sameJSON(t, gotLines, []byte(invoiceLines)) {
		t.Errorf("exec handler read the decrypted command as %s", recs[0].RawPayload)
	}
	if failed := e.laravelFailed(); len(failed) != 0 {
		t.Errorf("failed jobs: %+v", failed)
	}
	e.b.expectEmpty(t, queue)
}

// TestLaravelEncryptedJobWrongOrMissingKey: with another app_key, or none, qctl fails the
// encrypted job at once with a reason that says which, and neither key appears in the failed
// record, qctl's output or the payload kept for a retry (still sealed, so PHP can run it).
func TestLaravelEncryptedJobWrongOrMissingKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, want string }{
		{"wrong", "the MAC is invalid"},
		{"missing", "no app_key is configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kindSQLite, "")
			key, qctlKey := newAppKey(t), ""
			if tc.name == "wrong" {
				qctlKey = newAppKey(t)
			}
			e.useAppKey(key, "AES-256-CBC", qctlKey)
			e.addHandlers(e.execHandler(`Interop\SecretInvoice`) + "stdin = \"data\"\n")
			pushed := e.laravelPush(map[string]any{"encrypted": invoiceArgs, "queue": "secrets"})[0]
			r := e.qctlOK("work", e.b.conn, "--queue", "secrets", "--stop-when-empty", "--tries", "3")
			if n := countLines(t, e.record); n != 0 {
				t.Fatalf("the handler ran %d times", n)
			}
			failed := e.laravelFailed()
			if len(failed) != 1 || failed[0].ID != pushed.UUID || !strings.Contains(failed[0].Exception, tc.want) ||
				!strings.Contains(failed[0].Exception, `Interop\SecretInvoice`) {
				t.Fatalf("failed jobs %+v, want %s failed once with %q", failed, pushed.UUID, tc.want)
			}
			for _, k := range []string{key, qctlKey} {
				secret := strings.TrimPrefix(k, "base64:")
				if secret != "" && strings.Contains(failed[0].Exception+r.stdout+r.stderr, secret) {
					t.Errorf("the key %s leaked into the failed record or qctl's output", k)
				}
			}
			if !strings.Contains(failed[0].Payload, `"command":"eyJ`) {
				t.Errorf("the failed payload is no longer sealed: %s", failed[0].Payload)
			}
		})
	}
}

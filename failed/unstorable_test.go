package failed_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/qctl/qctl/failed"
)

// TestLogsBytesTheColumnCannotHold records payloads and exceptions holding invalid UTF-8 and NUL
// bytes on every dialect and layout. PostgreSQL's text refuses both (SQLSTATE 22021 and 22P05)
// and MySQL's utf8mb4 refuses invalid UTF-8 (error 1366, or truncates it without strict mode);
// a store that passes the error up makes the worker release the job forever. The record must be
// written, keep the real reason, and say what was replaced.
func TestLogsBytesTheColumnCannotHold(t *testing.T) {
	id := uuid.NewString()
	cases := []struct {
		name      string
		payload   string
		exception string
	}{
		{"payload 0xff", `{"uuid":"` + id + `","job":"Bad","data":"a` + "\xff" + `b"}`, "real reason"},
		{"payload NUL", `{"uuid":"` + id + `","job":"Bad","data":"a` + "\x00" + `b"}`, "real reason"},
		{"exception both", `{"uuid":"` + id + `","job":"Bad","data":"ok"}`, "real reason\nstderr: a\xffb\x00c"},
		{"all at once", `{"uuid":"` + id + `","job":"Bad","data":"` + "\xfe\x00\xc3" + `"}`, "real reason \x00\xff"},
	}
	for _, d := range dialects {
		for _, layout := range []failed.Layout{failed.LayoutLaravel, failed.LayoutThink} {
			t.Run(d.name+"/"+string(layout), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				s, _ := openLayout(t, d, &clock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, layout)
				for _, c := range cases {
					got, err := s.Log(ctx, "redis", "default", []byte(c.payload), c.exception)
					if err != nil {
						t.Fatalf("%s: Log: %v", c.name, err)
					}
					rec, err := s.Find(ctx, got)
					if err != nil {
						t.Fatalf("%s: Find: %v", c.name, err)
					}
					if err := s.Forget(ctx, got); err != nil {
						t.Fatal(err)
					}
					if layout == failed.LayoutLaravel && got != id {
						t.Errorf("%s: id = %q, want the payload's uuid %q", c.name, got, id)
					}
					if !strings.HasPrefix(rec.Exception, "real reason") {
						t.Errorf("%s: exception %q lost the real reason", c.name, rec.Exception)
					}
					if string(rec.Payload) == c.payload && rec.Exception == c.exception {
						continue // the columns held every byte (SQLite; NUL on MySQL)
					}
					if !strings.Contains(rec.Exception, "qctl: ") || !strings.Contains(rec.Exception, "cannot store") {
						t.Errorf("%s: exception %q does not say that bytes were replaced", c.name, rec.Exception)
					}
					if !utf8.Valid(rec.Payload) || d.name == "postgres" && strings.ContainsRune(string(rec.Payload), 0) {
						t.Errorf("%s: stored payload %q still holds unstorable bytes", c.name, rec.Payload)
					}
					if string(rec.Payload) != c.payload {
						_, b64, _ := strings.Cut(rec.Exception, "The original payload, base64: ")
						if orig, err := base64.StdEncoding.DecodeString(b64); err != nil || string(orig) != c.payload {
							t.Errorf("%s: exception %q does not keep the original payload", c.name, rec.Exception)
						}
					}
				}
			})
		}
	}
}

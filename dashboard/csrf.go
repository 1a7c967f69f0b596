package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// sessionCookie holds a random value per browser; a form's CSRF token is the HMAC of it under
// the process's key. A page from another site can make the browser send the cookie but cannot read
// it, nor the token printed in our forms, so it cannot forge a POST; a restart draws a new key, and
// an old page's forms are refused until reloaded.
const sessionCookie = "qctl_session"

// session returns the browser's session value, setting a new cookie when it has none.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	b := make([]byte, 16)
	rand.Read(b)
	v := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: h.o.Base + "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v}) // later reads in this request see it
	return v
}

// token is the CSRF token of session.
func (h *Handler) token(session string) string {
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte(session))
	return hex.EncodeToString(mac.Sum(nil))
}

// validToken reports whether r carries its session's token in the form field "csrf".
func (h *Handler) validToken(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostFormValue("csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(h.token(c.Value)))
}

// outcome is what an action did, for the log and the message shown on the next page.
type outcome struct {
	what string // "retry 12 failed jobs (queue=emails)"
	jobs int64  // how many jobs it touched
	back string // where to go next, under Base
}

// action wraps an action handler: it refuses read-only dashboards and requests without a valid
// CSRF token (403), logs who did what to how many jobs, and redirects back with a message.
func (h *Handler) action(do func(r *http.Request) (outcome, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.o.ReadOnly {
			http.Error(w, "this dashboard is read-only", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if !h.validToken(r) {
			http.Error(w, "missing or stale CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		res, err := do(r)
		h.sampler.invalidate()
		who := h.who(r)
		if err != nil {
			msg := h.redact(err)
			fmt.Fprintf(h.o.Log, "%s dashboard: %s: %s FAILED after %d jobs: %s\n", time.Now().Format(time.DateTime), who, res.what, res.jobs, msg)
			h.flash(w, "error", res.what+": "+msg)
		} else {
			fmt.Fprintf(h.o.Log, "%s dashboard: %s: %s: %d jobs\n", time.Now().Format(time.DateTime), who, res.what, res.jobs)
			h.flash(w, "ok", fmt.Sprintf("%s: %d %s.", res.what, res.jobs, plural(res.jobs, "job", "jobs")))
		}
		back := res.back
		if back == "" {
			back = "/"
		}
		http.Redirect(w, r, h.o.Base+back, http.StatusSeeOther)
	}
}

// who names the person behind r: the basic-auth user, or the client's address.
func (h *Handler) who(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok && h.o.Auth != "" {
		return user + "@" + r.RemoteAddr
	}
	return r.RemoteAddr
}

const flashCookie = "qctl_flash"

// flash leaves a message for the next page, which shows it once.
func (h *Handler) flash(w http.ResponseWriter, kind, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: kind + ":" + hex.EncodeToString([]byte(msg)),
		Path: h.o.Base + "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 60})
}

// takeFlash returns the message an action left, and clears it.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) (kind, msg string) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: h.o.Base + "/", MaxAge: -1})
	kind, enc, _ := strings.Cut(c.Value, ":")
	b, err := hex.DecodeString(enc)
	if err != nil {
		return "", ""
	}
	return kind, string(b)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

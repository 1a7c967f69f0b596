package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

// pages are the parsed templates, one per page, each with the shared layout.
type pages struct {
	byName map[string]*template.Template
}

// pageNames are the templates under templates/ besides layout.html.
var pageNames = []string{"overview", "queues", "failed", "failed_detail", "jobs", "workers"}

func parsePages() *pages {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t := template.New("layout.html").Funcs(funcs)
		p.byName[name] = template.Must(t.ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

// view is what every page's template receives; Data is the page's own.
type view struct {
	Title     string
	Nav       string // the nav item to highlight
	Base      string
	CSRF      string
	ReadOnly  bool
	RefreshMS int64 // 0 = no live refresh
	FlashKind string
	Flash     string
	Error     string // a problem reading what the page shows, already redacted
	Rendered  time.Duration
	Data      any
}

// render writes page name with data, after the flash an action left.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, name, title string, data any, pageErr error) {
	start := time.Now()
	v := view{Title: title, Nav: name, Base: h.o.Base, ReadOnly: h.o.ReadOnly, Data: data, Error: h.redact(pageErr)}
	if !h.o.ReadOnly {
		v.CSRF = h.token(h.session(w, r))
	}
	if h.o.Refresh > 0 {
		v.RefreshMS = h.o.Refresh.Milliseconds()
	}
	v.FlashKind, v.Flash = h.takeFlash(w, r)
	v.Flash = h.secrets.Replace(v.Flash)
	var buf bytes.Buffer
	if err := h.pages.byName[name].Execute(&buf, v); err != nil {
		http.Error(w, "rendering the page: "+h.redact(err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Server-Timing", fmt.Sprintf("render;dur=%.1f", float64(time.Since(start).Microseconds())/1000))
	w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"age":       ageOf,
	"ago":       func(t time.Time) string { return manager.FormatAge(time.Since(t)) },
	"until":     func(t time.Time) string { return manager.FormatAge(time.Until(t)) },
	"datetime":  func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	"firstLine": firstLine,
	"trunc":     trunc,
	"pretty":    prettyJSON,
	"query":     query,
	"add":       func(a, b int64) int64 { return a + b },
	"deref":     func(p *int64) int64 { return *p },
	"derefInt":  func(p *int) int { return *p },
	"bar":       bar,
	"clock":     func(t time.Time) string { return t.Format(time.TimeOnly) },
	"ms":        func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"mb":        func(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) },
	"queues":    queueList,
	"waitms": func(ms float64) string {
		return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond).String()
	},
	"workerRow": func(page view, conn string, in worker.Info) workerRow { return workerRow{page, conn, in} },
}

// workerRow is what a worker's action buttons need: the page (CSRF, base), its connection, it.
type workerRow struct {
	Page view
	Conn string
	Info worker.Info
}

// ageOf prints an age in seconds (nil = unknown) in its two largest units.
func ageOf(s *float64) string {
	if s == nil {
		return "–"
	}
	return manager.FormatAge(time.Duration(*s * float64(time.Second)))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// trunc cuts s to n runes with an ellipsis, so a long exception cannot widen a table.
func trunc(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// prettyJSON indents raw JSON; text that is not JSON comes back as it is.
func prettyJSON(raw []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

// query builds a query string from key, value pairs, leaving out empty values.
func query(kv ...string) template.URL {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return template.URL("?" + q.Encode())
}

// bar draws a queue's ready, delayed and reserved jobs as one stacked SVG bar, so the shape of
// a backlog shows at a glance without a charting library.
func bar(ready, delayed, reserved int64) template.HTML {
	total := ready + delayed + reserved
	const width = 120.0
	if total == 0 {
		return template.HTML(`<svg class="bar" width="120" height="10" role="img" aria-label="empty"><rect width="120" height="10" class="empty"/></svg>`)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="bar" width="120" height="10" role="img" aria-label="%d ready, %d delayed, %d reserved">`, ready, delayed, reserved)
	x := 0.0
	for _, part := range []struct {
		n     int64
		class string
	}{{ready, "ready"}, {delayed, "delayed"}, {reserved, "reserved"}} {
		if part.n == 0 {
			continue
		}
		w := width * float64(part.n) / float64(total)
		fmt.Fprintf(&b, `<rect x="%.1f" width="%.1f" height="10" class="%s"/>`, x, max(w, 1), part.class)
		x += w
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

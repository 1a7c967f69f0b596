package manager

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/qctl/qctl/failed"
)

// Forget deletes the selected failed jobs without retrying them: the IDs given, plus, with All,
// every job that Filter matches. It reads the matching jobs a page at a time (failed.Store.Page),
// so forgetting 100,000 rows never holds them all in memory, and returns how many it deleted; an
// id not in the store is not an error, it is simply not counted.
func (m *Manager) Forget(ctx context.Context, store *failed.Store, sel RetrySelection) (int64, error) {
	var deleted int64
	for _, id := range sel.IDs {
		err := store.Forget(ctx, id)
		switch {
		case errors.Is(err, failed.ErrNotFound):
		case err != nil:
			return deleted, err
		default:
			deleted++
		}
	}
	for after := int64(0); sel.All; {
		page, err := store.Page(ctx, sel.Filter, after, RetryBatch)
		if err != nil || len(page) == 0 {
			return deleted, err
		}
		after = page[len(page)-1].RowID
		rowIDs := make([]int64, len(page))
		for i, rec := range page {
			rowIDs[i] = rec.RowID
		}
		n, err := store.ForgetN(ctx, rowIDs)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// Secrets returns the config's values that no screen or log may show: every connection's DSN and
// password, the failed store's DSN and the exec handlers' environment values. A program that
// renders an error (which may quote a DSN) hides each of them first.
func (m *Manager) Secrets() []string {
	var out []string
	add := func(s string) {
		if len(s) >= 3 { // shorter values would blank unrelated text and protect nothing
			out = append(out, s)
		}
	}
	for _, name := range m.cfg.Names() {
		c, err := m.cfg.Connection(name)
		if err != nil {
			continue
		}
		add(c.DSN)
		add(c.Password)
		add(dsnPassword(c.DSN))
	}
	add(m.cfg.Failed.DSN)
	add(dsnPassword(m.cfg.Failed.DSN))
	for _, h := range m.cfg.Handlers {
		for _, v := range h.Env {
			add(v)
		}
	}
	return out
}

// dsnPassword finds the password inside a DSN, which may turn up in a driver's error without the
// rest of the DSN: URL form (postgres://user:PASS@host/db), key=value form (password=PASS) and
// MySQL's (user:PASS@tcp(host)/db). It returns "" when it finds none.
func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, "'")
		}
	}
	if at := strings.LastIndex(dsn, "@tcp("); at > 0 {
		if _, p, ok := strings.Cut(dsn[:at], ":"); ok {
			return p
		}
	}
	return ""
}

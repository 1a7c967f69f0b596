package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qctl/qctl/dashboard"
	"github.com/qctl/qctl/failed"
)

// browser starts headless Chromium for t, or skips (fails under QCTL_REQUIRE_SERVICES=1) when
// it is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		msg := "chromium is not installed; install it with: apt-get install -y chromium"
		if os.Getenv("QCTL_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg + " [QCTL_REQUIRE_SERVICES=1]")
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 800),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-device-scale-factor", "1"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// screenshotDir is where page screenshots go: docs/screenshots with QCTL_UPDATE_SCREENSHOTS=1
// (the committed ones the README shows), else the test's temporary directory, so a plain test
// run leaves the work tree as it was.
func screenshotDir(t *testing.T) string {
	if os.Getenv("QCTL_UPDATE_SCREENSHOTS") == "1" {
		return filepath.Join("..", "docs", "screenshots")
	}
	return t.TempDir()
}

// demo fills the dashboard's SQLite connection with a plausible day: a backlog, delayed and
// reserved jobs, and failures with long exceptions, a Laravel object job among them.
func demo(t *testing.T, b *bundle) (retryID string) {
	t.Helper()
	ctx := context.Background()
	b.push("default", 1200, 0)
	b.push("emails", 84, 0)
	b.push("emails", 12, 30*time.Minute)
	b.push("reports", 3, 2*time.Hour)
	c := b.conn("database")
	for i := 0; i < 4; i++ {
		if _, err := c.Backend.Pop(ctx, "emails"); err != nil {
			t.Fatal(err)
		}
	}
	stack := "\n#0 /var/www/app/Services/Mailer.php(88): GuzzleHttp\\Client->request('POST', 'https://api.mail...', Array)\n" +
		"#1 /var/www/app/Jobs/SendEmail.php(41): App\\Services\\Mailer->send(Object(App\\Models\\User), 'Welcome, Ada')\n" +
		"#2 /var/www/vendor/laravel/framework/src/Illuminate/Container/BoundMethod.php(36): App\\Jobs\\SendEmail->handle()\n" +
		"#3 {main}"
	object, err := os.ReadFile("../jobs/testdata/laravel/send_email.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Log(ctx, "database", "emails", object,
		"GuzzleHttp\\Exception\\ConnectException: cURL error 28: Operation timed out after 30001 milliseconds with 0 bytes received (see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for https://api.mailgun.net/v3/messages"+stack); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		b.fail("reports", "App\\Jobs\\BuildReport", fmt.Sprintf("Illuminate\\Queue\\MaxAttemptsExceededException: App\\Jobs\\BuildReport has been attempted too many times or run too long. The job may have previously timed out. (report %d)", i)+stack)
	}
	retryID = b.fail("emails", "App\\Jobs\\SendEmail", "RuntimeException: SMTP server refused the connection: 421 Too many connections from your IP"+stack)
	return retryID
}

func TestBrowserPagesAndRetry(t *testing.T) {
	ctx := browser(t)
	b := setup(t, setupOptions{})
	retryID := demo(t, b)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	dir := screenshotDir(t)
	shot := func(name, path string, wait string) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(wait)))
		var png []byte
		if err == nil {
			png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	totals := demoHistory(t, b)
	shot("overview", "/", ".plot canvas")
	// Every queue of the hour has its two charts, drawn by uPlot from the recorded minutes.
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll(".plot")].filter(function (p) {
		return p.querySelector("canvas") && p.uplot && p.uplot.data[0].length === 60 && p.uplot.data[2].some(function (v) { return v > 0; });
	}).length`))
	if err != nil {
		t.Fatal(err)
	}
	if drawn != 2*len(totals) {
		t.Errorf("%d charts drawn with data, want %d (two per queue of %v)", drawn, 2*len(totals), totals)
	}
	shot("queues", "/queues", "form.clear")
	shot("jobs", "/jobs?queue=emails", "table.jobs")
	if err := chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/failed?queue=emails")); err != nil {
		t.Fatal(err)
	}
	detail, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`td.id a:not([title="`+retryID+`"])`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	shot("failed-detail", strings.TrimPrefix(detail.Value, b.srv.URL), "pre.exception")
	shot("failed", "/failed", "table.failed")

	// Retry one failed job from its row and watch it leave the list and arrive on its queue.
	before := b.stats("emails").Ready
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[name="one"][value="`+retryID+`"][formaction$="/failed/retry"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash.ok")),
	)
	if err != nil {
		t.Fatal(err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".flash.ok")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(flash, "retry failed job "+retryID) {
		t.Errorf("after clicking Retry the page says %q", flash)
	}
	still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('input[name="ids"][value="`+retryID+`"]') !== null`))
	if err != nil {
		t.Fatal(err)
	}
	if still {
		t.Errorf("the retried job is still in the failed list")
	}
	if _, err := b.store.Find(context.Background(), retryID); err == nil {
		t.Errorf("the retried job is still in the failed store")
	}
	if after := b.stats("emails").Ready; after != before+1 {
		t.Errorf("emails has %d ready jobs after the retry, want %d", after, before+1)
	}
	if n := b.failedCount(failed.Filter{}); n != 7 {
		t.Errorf("%d failed jobs left, want 7", n)
	}
	registerWorker(t, b)
	shot("workers", "/workers", "main h1")
}

func TestBrowserNarrowWindow(t *testing.T) {
	ctx := browser(t)
	b := setup(t, setupOptions{})
	demo(t, b)
	err := chromedp.Do(ctx, chromedp.EmulateViewport(420, 800), chromedp.Navigate(b.srv.URL+"/failed"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Errorf("the failed page is wider than a 420px window")
	}
	os.WriteFile(filepath.Join(screenshotDir(t), "failed-narrow.png"), png, 0o644)
}

func TestBrowserLiveRefresh(t *testing.T) {
	ctx := browser(t)
	b := setup(t, setupOptions{Options: dashboard.Options{Refresh: 200 * time.Millisecond}})
	b.push("emails", 2, 0)
	totals := demoHistory(t, b)
	ready := chromedp.CSS(`.cards .card:first-child .n`)
	if err := chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(ready)); err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Text(ready)); err != nil || n != "2" {
		t.Fatalf("ready card shows %q (%v), want 2", n, err)
	}
	b.push("emails", 3, 0)
	// The page fetches itself again and the sampler counts again: the card turns to 5 with no reload.
	probe := `document.querySelector(".cards .card:first-child .n").textContent === "5"`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](probe, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the overview never showed the 5 ready jobs without a reload: %v", err)
	}
	// The refresh replaced the charts' elements; they are drawn again.
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".plot canvas").length`))
	if err != nil || charts != 2*len(totals) {
		t.Errorf("after the refresh %d charts are drawn (%v), want %d", charts, err, 2*len(totals))
	}
}

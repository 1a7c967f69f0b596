package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/jobs"
)

// BenchmarkListenVersusWork runs b.N no-op exec jobs (`true`) through `listen` (a process per job)
// and through `work`, on SQLite, with the real qctl binary built from main.go (process start-up is
// what listen pays per job, and the test binary starts slower), and reports jobs/s for each:
//
//	go test -run '^$' -bench ListenVersusWork -benchtime 800x ./commands/
func BenchmarkListenVersusWork(b *testing.B) {
	config := sqliteConfig + "\n[handlers.\"Noop\"]\ncommand = [\"true\"]\n"
	bin := filepath.Join(b.TempDir(), "qctl")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, mode := range []string{"listen", "work"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, config)
			q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), Table: "jobs", RetryAfter: time.Minute, AutoMigrate: true})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			payloads := make([][]byte, b.N)
			for i := range payloads {
				payloads[i], _ = jobs.NewPayload("Noop", json.RawMessage(fmt.Sprint(i))).Encode()
			}
			if _, err := q.PushBulk(context.Background(), "default", payloads, 0); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			cmd := exec.Command(bin, "listen", "--sleep", "0.05")
			if mode == "work" {
				cmd = exec.Command(bin, "work", "--stop-when-empty")
			}
			cmd.Dir = e.dir
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			for {
				n, err := q.Size(context.Background(), "default")
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
			b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/job")
		})
	}
}

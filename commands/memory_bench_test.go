package commands_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/qctl/qctl/connectors/connectortest"
)

// BenchmarkWorkerPeakRSS measures what the README's Memory section reports: the peak resident
// set of `qctl work <connection> --concurrency 10 --stop-when-empty --tries 1` draining 3,000
// exec jobs pushed with `push --file`, on every backend, with the binary built as the README
// builds it (CGO_ENABLED=0). Each iteration is one drain; peak-KiB is the median of the
// iterations' ru_maxrss as wait4 reports it (what `/usr/bin/time -f %M` prints), max-KiB the
// largest. Failed jobs go to an SQLite file, as with the shipped queue.toml.
//
//	go test -run '^$' -bench WorkerPeakRSS -benchtime 3x ./commands/
func BenchmarkWorkerPeakRSS(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "qctl")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	if st, err := os.Stat(bin); err == nil {
		b.Logf("binary: %d bytes", st.Size())
	}
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	unique := hex.EncodeToString(r)
	table := "jobs_mem_" + unique
	backends := []struct {
		name, addr, how, connection string
	}{
		{"sqlite", "", "", `driver = "database"
dialect = "sqlite"
dsn = "queue.db"`},
		{"postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start", `driver = "database"
dialect = "postgres"
dsn = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
table = "` + table + `"`},
		{"mysql", "127.0.0.1:3306", "start-stop-daemon --start --background --exec /usr/sbin/mariadbd", `driver = "database"
dialect = "mysql"
dsn = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
table = "` + table + `"`},
		{"redis", "127.0.0.1:6379", "redis-server --daemonize yes", `driver = "redis"
addr = "127.0.0.1:6379"
prefix = "qctl-mem-` + unique + `:"`},
		{"beanstalkd", "127.0.0.1:11300", "beanstalkd -l 127.0.0.1 -p 11300 &", `driver = "beanstalkd"
addr = "127.0.0.1:11300"
queue = "mem-` + unique + `"`},
	}
	lines := strings.Repeat(`{"to":"someone@example.com"}`+"\n", 3000)
	for _, s := range backends {
		b.Run(s.name, func(b *testing.B) {
			if s.addr != "" {
				connectortest.RequireService(b, s.name, s.addr, s.how)
			}
			e := newEnv(b, `default = "q"
[connections.q]
`+s.connection+`

[failed]
dialect = "sqlite"
dsn = "failed.db"

[handlers."SendEmail"]
command = ["sh", "-c", "cat > /dev/null; echo sent"]
`)
			if err := os.WriteFile(filepath.Join(e.dir, "jobs.jsonl"), []byte(lines), 0o644); err != nil {
				b.Fatal(err)
			}
			run := func(args ...string) *exec.Cmd {
				cmd := exec.Command(bin, args...)
				cmd.Dir = e.dir
				cmd.Env = append(os.Environ(), "QCTL_CONFIG=")
				return cmd
			}
			must := func(args ...string) {
				if out, err := run(args...).CombinedOutput(); err != nil {
					b.Fatalf("qctl %v: %v\n%s", args, err, out)
				}
			}
			switch {
			case s.name == "redis":
				b.Cleanup(func() { deleteRedisKeys(b, "qctl-mem-"+unique+":*") })
			case strings.Contains(s.connection, `"database"`):
				must("migrate", "q")
				if s.name != "sqlite" {
					b.Cleanup(func() { dropTable(b, s.connection, table) })
				}
			}
			var peaks []float64
			for b.Loop() {
				b.StopTimer()
				must("push", "SendEmail", "--file", "jobs.jsonl")
				b.StartTimer()
				cmd := run("work", "q", "--concurrency", "10", "--stop-when-empty", "--tries", "1")
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("qctl work: %v\n%s", err, out)
				}
				peaks = append(peaks, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss))
			}
			slices.Sort(peaks)
			b.ReportMetric(peaks[len(peaks)/2], "peak-KiB")
			b.ReportMetric(peaks[len(peaks)-1], "max-KiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

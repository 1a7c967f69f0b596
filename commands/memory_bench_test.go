//go:build linux

package commands_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkWorkerPeakRSS measures what the README's Memory section reports: the peak resident
// set of `qctl work <connection> --concurrency 10 --stop-when-empty --tries 1` draining 3,000
// exec jobs pushed with `push --file`, on every backend, with the binary built as the README
// builds it (CGO_ENABLED=0). Each iteration is one drain; peak-KiB is the median of the
// iterations' peaks, max-KiB the largest. The peak is the worker's VmHWM, read from /proc every
// 10 ms while it runs: wait4's ru_maxrss would also count the test process, whose memory a child
// shares (vfork) until it execs. Failed jobs go to an SQLite file, as with the shipped queue.toml.
//
// How much of the binary a process counts depends on the page cache, not only on the process: a
// page fault maps the neighbouring pages that are already cached (64 KB around it, or the whole
// large folio the file was cached in). So each drain runs in two states. cold: the binary is
// dropped from the page cache just before the worker starts, so only what the worker itself reads
// is there, as on a machine that runs nothing else from it. warm: the whole file is read into the
// cache first, as on a machine where other qctl commands ran (or right after a build or an
// install, which write the file through the cache).
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
	backends := append([]serverBackend{{name: "SQLite", connection: `driver = "database"
dialect = "sqlite"
dsn = "queue.db"`}}, serverBackends("mem", unique, "mem-"+unique, false)...)
	lines := strings.Repeat(`{"to":"someone@example.com"}`+"\n", 3000)
	for _, s := range backends {
		b.Run(s.name, func(b *testing.B) {
			if s.addr != "" {
				s.use(b)
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
			if strings.Contains(s.connection, `"database"`) {
				must("migrate", "q")
			}
			for _, state := range []string{"cold", "warm"} {
				b.Run(state, func(b *testing.B) {
					var peaks []float64
					for b.Loop() {
						b.StopTimer()
						must("push", "SendEmail", "--file", "jobs.jsonl")
						evict(b, bin)
						if state == "warm" {
							readAll(b, bin)
						}
						b.StartTimer()
						peaks = append(peaks, peakRSS(b, run("work", "q", "--concurrency", "10", "--stop-when-empty", "--tries", "1")))
					}
					slices.Sort(peaks)
					b.ReportMetric(peaks[len(peaks)/2], "peak-KiB")
					b.ReportMetric(peaks[len(peaks)-1], "max-KiB")
					b.ReportMetric(0, "ns/op")
				})
			}
		})
	}
}

// evict drops file from the page cache (fsync first: dirty pages would stay).
func evict(b *testing.B, file string) {
	b.Helper()
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatalf("dropping the binary from the page cache: %v", err)
	}
}

// readAll reads file into the page cache in 128 KiB reads, as cat does (the size of the reads
// changes how the kernel caches the file, and so how much of it a fault maps).
func readAll(b *testing.B, file string) {
	b.Helper()
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 128<<10)
	for {
		_, err := f.Read(buf)
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// peakRSS runs cmd to the end and returns its peak resident set in KiB.
func peakRSS(b *testing.B, cmd *exec.Cmd) float64 {
	b.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	peak := 0.0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(status); err == nil {
			for line := range strings.Lines(string(data)) {
				if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					if n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(kb), " kB"), 64); err == nil {
						peak = max(peak, n)
					}
				}
			}
		}
		select {
		case err := <-done:
			if err != nil {
				b.Fatalf("qctl work: %v\n%s", err, out.String())
			}
			return peak
		case <-tick.C:
		}
	}
}

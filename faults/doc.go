// Package faults holds qctl's fault suite, and only tests: it starts private servers on free
// loopback ports (never the shared 6379, 5432, 3306 and 11300) — redis-server with appendonly,
// beanstalkd with a binlog, a PostgreSQL cluster made by initdb, a MariaDB made by
// mariadb-install-db — runs real `qctl work` and `qctl listen` processes against them, and kills
// (-9) and restarts, or freezes (SIGSTOP) and thaws, the server in the middle of a drain.
//
// Every job's runs are counted from a file its handler appends to. Per scenario the suite logs
// (t.Logf) jobs pushed, lost (never run: must be 0), run more than once, and of those how many the
// lease rules allow: a job may run twice only when its first run ended while the server was down
// or frozen, so its delete could not be acknowledged. A frozen server must not hang a worker: the
// worker's calls time out (it reports an error while the server is still frozen) and the drain
// ends within a bounded time once the server is back.
//
// The scenarios run in parallel (go test's -parallel) and take about two minutes in all; -short
// skips them. QCTL_FAULTS_VERBOSE=1 also logs every ERROR line the workers printed.
//
// A missing server binary skips its scenarios with a message, unless QCTL_REQUIRE_SERVICES=1 (CI),
// where it fails them. `.ci/run` installs every server.
package faults

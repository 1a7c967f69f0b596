// Package interop proves that qctl shares queues and failed jobs with real Laravel, not with our
// reading of it. Its tests drive Laravel 8's own queue code (Debian's php-illuminate-* packages:
// Queue::push, later and pushRaw, the Worker, the uuid failed-job provider, and the queue:work,
// queue:retry, queue:failed and queue:restart commands) through the small PHP scripts in
// testdata/php, against the same Redis keys, SQLite file, PostgreSQL schema or MariaDB tables that
// the real qctl binary uses, in all four directions, on each of them:
//
//  1. Laravel pushes, qctl runs (exec and Go handlers, routed by job name and displayName);
//  2. qctl pushes, Laravel's worker runs;
//  3. failed jobs are shared: each side lists and retries what the other failed;
//  4. `qctl restart` stops Laravel workers and `php artisan queue:restart` stops qctl workers
//     (through Laravel's Redis cache, or its database cache table with cache_table).
//
// The package has no code of its own; everything is in its tests. They skip without PHP, or
// without a server, unless QCTL_REQUIRE_SERVICES=1 (set by .ci/run), where they fail instead.
package interop

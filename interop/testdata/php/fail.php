<?php
// fail.php records one failed job through Laravel's failed-job provider, as Laravel's worker
// does when a job fails: `fail.php <connection> <queue> <payload> <exception>`. With
// QCTL_PHP_NOW (unix seconds) set, Carbon's test clock stands at that time, so the row is one
// that failed then. Prints the job's uuid.

require __DIR__ . '/bootstrap.php';

use Illuminate\Support\Carbon;

$app = interop_app();
if (($now = env_or('NOW')) !== null) {
    Carbon::setTestNow(Carbon::createFromTimestamp((int) $now));
}
echo $app['queue.failer']->log($argv[1], $argv[2], $argv[3], $argv[4]), "\n";

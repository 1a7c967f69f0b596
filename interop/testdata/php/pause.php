<?php
// pause.php writes and forgets a queue's pause key exactly as Laravel 11+'s QueueManager does
// (pause: Cache::forever("illuminate:queue:paused:{connection}:{queue}", true); pauseFor: put
// with a ttl; resume: forget), in the cache store bootstrap.php builds. Laravel 8, installed
// here, has no queue:pause, so this stands in for `php artisan queue:pause connection:queue`.
//
// Usage: php pause.php pause|pause-for|resume <connection> <queue> [seconds]

require __DIR__ . '/bootstrap.php';

$app = interop_app();
[, $op, $connection, $queue] = $argv;
$key = "illuminate:queue:paused:{$connection}:{$queue}";
$cache = $app['cache.store'];
switch ($op) {
    case 'pause':
        $cache->forever($key, true);
        break;
    case 'pause-for':
        $cache->put($key, true, (int) $argv[4]);
        break;
    case 'resume':
        $cache->forget($key);
        break;
    default:
        fwrite(STDERR, "unknown operation $op\n");
        exit(2);
}

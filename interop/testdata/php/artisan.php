<?php
// artisan.php runs Laravel's own queue console commands (queue:work, queue:failed, queue:retry,
// queue:forget, queue:prune-failed, queue:restart) against the application bootstrap.php builds, as
// `php artisan queue:...` would in a Laravel app.

require __DIR__ . '/bootstrap.php';

use Illuminate\Console\Application as Artisan;
use Illuminate\Queue\Console;

$app = interop_app();
$artisan = new Artisan($app, $app['events'], 'interop');
$artisan->setAutoExit(false);
$artisan->resolveCommands([]);
$artisan->add(new Console\WorkCommand($app['queue.worker'], $app['cache.store']));
$artisan->add(new Console\RestartCommand($app['cache.store']));
$artisan->add(new Console\ListFailedCommand());
$artisan->add(new Console\RetryCommand());
$artisan->add(new Console\ForgetFailedCommand());
$artisan->add(new Console\PruneFailedJobsCommand());
exit($artisan->run());

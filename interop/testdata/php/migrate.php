<?php
// migrate.php creates the jobs, failed_jobs and job_batches tables with Laravel's own migration stubs
// (`php artisan queue:table` and `queue:failed-table`, then `php artisan migrate`), so qctl is
// tested against tables a Laravel app made. With "down" it drops them again.

require __DIR__ . '/bootstrap.php';

$app = interop_app();
$down = ($argv[1] ?? 'up') === 'down';
$stubs = [
    env_or('JOBS_TABLE', 'jobs') => 'jobs.stub',
    env_or('FAILED_TABLE', 'failed_jobs') => 'failed_jobs.stub',
    env_or('BATCHES_TABLE', 'job_batches') => 'batches.stub', // `php artisan queue:batches-table`
];
foreach ($stubs as $table => $stub) {
    $class = 'Create' . str_replace(' ', '', ucwords(str_replace(['_', '-'], ' ', $table))) . 'Table';
    $code = file_get_contents(stream_resolve_include_path("Illuminate/Queue/Console/stubs/$stub"));
    $code = str_replace(['{{table}}', '{{tableClassName}}'], [$table, substr($class, 6, -5)], $code);
    eval('?>' . $code);
    $migration = new $class();
    $down ? $migration->down() : $migration->up();
}
// `php artisan cache:table`: the database cache store's tables, for database queues.
if (env_or('CACHE_TABLE') !== null) {
    $table = env_or('CACHE_TABLE');
    $code = file_get_contents(stream_resolve_include_path('Illuminate/Cache/Console/stubs/cache.stub'));
    $code = str_replace(["'cache'", "'cache_locks'", 'class CreateCacheTable'],
        ["'$table'", "'{$table}_locks'", 'class CreateInteropCacheTable'], $code);
    eval('?>' . $code);
    $migration = new CreateInteropCacheTable();
    $down ? $migration->down() : $migration->up();
}

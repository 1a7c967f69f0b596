<?php
// bootstrap.php builds just enough of a Laravel application to run Laravel's own queue code:
// the queue manager (Illuminate\Queue\Capsule\Manager), Redis (phpredis), the database, the
// Redis cache store, the uuid failed-job provider, events, and the real queue:* console
// commands. Everything is configured from QCTL_PHP_* environment variables that the Go tests
// set, mirroring a Laravel app's config/queue.php, config/database.php and config/cache.php:
//
//   QCTL_PHP_CONNECTION   queue connection name (config/queue.php key), default "default"
//   QCTL_PHP_DRIVER       "redis" or "database"
//   QCTL_PHP_QUEUE        the connection's queue, default "default"
//   QCTL_PHP_RETRY_AFTER  the connection's retry_after, default 90
//   QCTL_PHP_REDIS_HOST, QCTL_PHP_REDIS_PORT, QCTL_PHP_REDIS_DB
//   QCTL_PHP_REDIS_PREFIX database.redis.options.prefix (Laravel's default "laravel_database_")
//   QCTL_PHP_CACHE_PREFIX cache.prefix (Laravel's default "laravel_cache")
//   QCTL_PHP_DB_DRIVER    "sqlite", "pgsql" or "mysql": where jobs and failed_jobs live
//   QCTL_PHP_DB_DATABASE  SQLite file, or database name
//   QCTL_PHP_DB_HOST, QCTL_PHP_DB_PORT, QCTL_PHP_DB_USERNAME, QCTL_PHP_DB_SCHEMA (pgsql search path)
//   QCTL_PHP_JOBS_TABLE, QCTL_PHP_FAILED_TABLE
//   QCTL_PHP_CACHE_TABLE  database queues: the cache table (cache.stores.database.table)
//   QCTL_PHP_RECORD       file the test handlers append what they received to (jobs.php)
//   QCTL_PHP_TIMEZONE     config/app.php 'timezone', default "UTC": PHP's default zone, in which
//                         the failed-job provider writes failed_at
//   QCTL_PHP_APP_KEY      APP_KEY ("base64:..."): binds the encrypter, as a Laravel app always does
//   QCTL_PHP_CIPHER       config/app.php 'cipher', default AES-256-CBC
//   QCTL_PHP_BATCHES_TABLE queue.batching.table (on the SQL connection above), default job_batches

error_reporting(E_ALL);
set_error_handler(function ($severity, $message, $file, $line) {
    if ($severity & (E_DEPRECATED | E_USER_DEPRECATED)) {
        return true; // logged, not thrown, by Laravel 8.83's HandleExceptions (PHP 8.2 vs older packages)
    }
    throw new ErrorException($message, 0, $severity, $file, $line);
});

foreach (['Queue', 'Redis', 'Database', 'Events', 'Cache', 'Bus', 'Console', 'Encryption'] as $component) {
    require_once "Illuminate/$component/autoload.php";
}
require_once __DIR__ . '/jobs.php';

use Illuminate\Cache\DatabaseStore;
use Illuminate\Cache\RedisStore;
use Illuminate\Cache\Repository as CacheRepository;
use Illuminate\Container\Container;
use Illuminate\Contracts\Debug\ExceptionHandler;
use Illuminate\Database\Capsule\Manager as DB;
use Illuminate\Events\Dispatcher;
use Illuminate\Queue\Capsule\Manager as Queue;
use Illuminate\Queue\Failed\DatabaseUuidFailedJobProvider;
use Illuminate\Queue\Worker;
use Illuminate\Redis\RedisManager;
use Illuminate\Support\Facades\Facade;

/**
 * dispatch is the helper of Illuminate\Foundation (not among Debian's components) that
 * Queueable::dispatchNextJobInChain calls: a PendingDispatch that, for a ShouldBeUnique job, first
 * takes its UniqueLock (PendingDispatch::shouldDispatch) and then hands the job to the bus.
 */
function dispatch($job)
{
    $app = Container::getInstance();
    if ($job instanceof Illuminate\Contracts\Queue\ShouldBeUnique &&
        !(new Illuminate\Bus\UniqueLock($app->make(Illuminate\Contracts\Cache\Repository::class)))->acquire($job)) {
        return null;
    }
    return $app->make(Illuminate\Contracts\Bus\Dispatcher::class)->dispatch($job);
}

/** InteropApp stands in for Illuminate\Foundation\Application where the queue commands need it. */
class InteropApp extends Container
{
    public function isDownForMaintenance()
    {
        return false;
    }

    public function environment(...$environments)
    {
        return 'testing';
    }

    public function runningUnitTests()
    {
        return false;
    }
}

/** InteropExceptionHandler reports to stderr, as a Laravel app's log would. */
class InteropExceptionHandler implements ExceptionHandler
{
    public function report(Throwable $e)
    {
        fwrite(STDERR, 'reported: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
    }

    public function shouldReport(Throwable $e)
    {
        return true;
    }

    public function render($request, Throwable $e)
    {
        throw $e;
    }

    public function renderForConsole($output, Throwable $e)
    {
        $output->writeln('<error>' . get_class($e) . ': ' . $e->getMessage() . '</error>');
    }
}

function env_or(string $name, $default = null)
{
    $v = getenv('QCTL_PHP_' . $name);
    return ($v === false || $v === '') ? $default : $v;
}

function interop_app(): InteropApp
{
    // Laravel's LoadConfiguration bootstrapper does this with config('app.timezone').
    date_default_timezone_set(env_or('TIMEZONE', 'UTC'));
    $app = new InteropApp();
    Container::setInstance($app);
    Facade::setFacadeApplication($app);

    $connection = env_or('CONNECTION', 'default');
    $driver = env_or('DRIVER', 'redis');
    $app->instance(Illuminate\Contracts\Container\Container::class, $app); // CallQueuedHandler's
    $app->instance('config', new Illuminate\Support\Fluent());
    $app->instance('events', new Dispatcher($app));
    $app->alias('events', Illuminate\Contracts\Events\Dispatcher::class);
    $app->instance(ExceptionHandler::class, new InteropExceptionHandler());

    // config/database.php: the SQL connection of the jobs and failed_jobs tables.
    $db = new DB($app);
    $dbDriver = env_or('DB_DRIVER', 'sqlite');
    $db->addConnection(array_filter([
        'driver' => $dbDriver,
        'database' => env_or('DB_DATABASE', ':memory:'),
        'host' => env_or('DB_HOST'),
        'port' => env_or('DB_PORT'),
        'username' => env_or('DB_USERNAME'),
        'password' => '',
        'schema' => env_or('DB_SCHEMA'),
        'charset' => $dbDriver === 'mysql' ? 'utf8mb4' : 'utf8',
        'collation' => $dbDriver === 'mysql' ? 'utf8mb4_unicode_ci' : null,
        'prefix' => '',
    ], fn ($v) => $v !== null));
    $db->setEventDispatcher($app['events']);
    $db->setAsGlobal();
    $app->instance('db', $db->getDatabaseManager());
    $app->bind('db.connection', fn ($app) => $app['db']->connection());
    $app->bind('db.schema', fn ($app) => $app['db']->connection()->getSchemaBuilder());

    // config/database.php 'redis': phpredis with a client prefix on every key, the queue on
    // database 0 and the 'cache' connection on database 1, a Laravel app's defaults (REDIS_DB,
    // REDIS_CACHE_DB); qctl reads the restart key there through cache_db.
    $redisConfig = [
        'host' => env_or('REDIS_HOST', '127.0.0.1'),
        'port' => (int) env_or('REDIS_PORT', 6379),
        'database' => (int) env_or('REDIS_DB', 0),
    ];
    $app->instance('redis', new RedisManager($app, 'phpredis', [
        'options' => ['prefix' => env_or('REDIS_PREFIX', '')],
        'default' => $redisConfig,
        'cache' => ['database' => (int) env_or('REDIS_CACHE_DB', 1)] + $redisConfig,
    ]));

    // config/cache.php: with the redis queue, the redis store on the "cache" connection (RedisStore
    // adds ':' to the prefix); with the database queue, the database store (CACHE_DRIVER=database)
    // on the same connection, in the table `php artisan cache:table` made (no separator).
    $cache = new CacheRepository($driver === 'database'
        ? new DatabaseStore($app['db']->connection(), env_or('CACHE_TABLE', 'cache'), env_or('CACHE_PREFIX', ''),
            env_or('CACHE_TABLE', 'cache') . '_locks') // cache.stores.database.lock_table, as cache:table names it
        : new RedisStore($app['redis'], env_or('CACHE_PREFIX', ''), 'cache'));
    $app->instance('cache.store', $cache);
    $app->alias('cache.store', Illuminate\Contracts\Cache\Repository::class);
    $app->instance('cache', $cache);

    // config/queue.php: one connection, and the failed-job provider Laravel 8 uses by default.
    $queue = new Queue($app);
    $queue->addConnection(array_filter([
        'driver' => $driver,
        'connection' => $driver === 'redis' ? 'default' : null,
        'table' => $driver === 'database' ? env_or('JOBS_TABLE', 'jobs') : null,
        'queue' => env_or('QUEUE', 'default'),
        'retry_after' => (int) env_or('RETRY_AFTER', 90),
        'block_for' => null,
    ], fn ($v) => $v !== null), $connection);
    $app['config']['queue.default'] = $connection;
    $queue->setAsGlobal();
    $app->instance('queue', $queue->getQueueManager());
    $app->alias('queue', Illuminate\Contracts\Queue\Factory::class);
    $app->instance('queue.connection', $queue->getConnection($connection));
    $app->instance('queue.failer', new DatabaseUuidFailedJobProvider(
        $app['db'], null, env_or('FAILED_TABLE', 'failed_jobs')
    ));

    $app->singleton('queue.worker', fn ($app) => new Worker(
        $app['queue'], $app['events'], $app[ExceptionHandler::class],
        fn () => $app->isDownForMaintenance()
    ));
    // config/app.php 'key' and 'cipher': EncryptionServiceProvider binds the encrypter that
    // ShouldBeEncrypted jobs are sealed and opened with.
    if (($key = env_or('APP_KEY')) !== null) {
        $app->instance(Illuminate\Contracts\Encryption\Encrypter::class, new Illuminate\Encryption\Encrypter(
            base64_decode(substr($key, 7)), env_or('CIPHER', 'AES-256-CBC')
        ));
    }
    // config/queue.php 'batching': DatabaseBatchRepository, as BusServiceProvider binds it.
    $app->singleton(Illuminate\Bus\BatchRepository::class, fn ($app) => new Illuminate\Bus\DatabaseBatchRepository(
        new Illuminate\Bus\BatchFactory($app['queue']), $app['db']->connection(), env_or('BATCHES_TABLE', 'job_batches')
    ));
    $app->singleton(Illuminate\Contracts\Bus\Dispatcher::class, fn ($app) => new Illuminate\Bus\Dispatcher(
        $app, fn ($connection = null) => $app['queue']->connection($connection)
    ));
    return $app;
}

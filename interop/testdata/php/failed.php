<?php
// failed.php prints Laravel's failed-job provider (DatabaseUuidFailedJobProvider) as a JSON array:
// all() without arguments, find($id) for each id given (ids not found are left out).

require __DIR__ . '/bootstrap.php';

$app = interop_app();
$failer = $app['queue.failer'];
$records = $argc > 1
    ? array_values(array_filter(array_map(fn ($id) => $failer->find($id), array_slice($argv, 1))))
    : $failer->all();
echo json_encode($records, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";

<?php
// batch.php prints what Laravel's own DatabaseBatchRepository reads for each batch id given, as
// JSON lines: the counts and states Illuminate\Bus\Batch exposes.

require __DIR__ . '/bootstrap.php';

$app = interop_app();
$repo = $app[Illuminate\Bus\BatchRepository::class];
foreach (array_slice($argv, 1) as $id) {
    $b = $repo->find($id);
    echo json_encode($b === null ? null : [
        'totalJobs' => $b->totalJobs, 'pendingJobs' => $b->pendingJobs, 'failedJobs' => $b->failedJobs,
        'processedJobs' => $b->processedJobs(), 'failedJobIds' => $b->failedJobIds,
        'finished' => $b->finished(), 'cancelled' => $b->cancelled(),
    ]), "\n";
}

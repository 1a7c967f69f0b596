<?php
// push.php pushes jobs the way a Laravel application does. It reads a JSON array of operations on
// stdin and prints one JSON line per job pushed: {"id": <Queue::push's return>, "uuid": <payload uuid>}.
//
//   {"push": "Name@method", "data": ..., "queue": "q"}           Queue::push
//   {"later": "Name@method", "delay": 3, "data": ..., "queue": "q"} Queue::later
//   {"raw": "<payload JSON>", "queue": "q"}                      Queue::pushRaw
//   {"object": [constructor args], "queue": "q"}                 Queue::push(new Interop\SendInvoice(...))
//   {"encrypted": [constructor args], "queue": "q"}              the same, ShouldBeEncrypted (Interop\SecretInvoice)
//   {"chain": [[step, queue], ...], "catch": n, "sealed": b}     Bus::chain([new Interop\ChainStep(step)->onQueue(queue), ...])
//                                                                (SecretChainStep, ShouldBeEncrypted, with "sealed")
//                                                                ->catch(n closures)->dispatch(), as PendingChain::dispatch does
//   {"batch": [fail?, ...], "queue": "q", "allowFailures": bool, "then": bool}
//                                                                Bus::batch([new Interop\BatchStep(i, fail?), ...])->dispatch():
//                                                                id is the batch id, uuid null
//   {"unique": "report", "queue": "q"}                           dispatch(new Interop\UniqueReport(report)): id "" and
//                                                                uuid null when its unique lock is taken

require __DIR__ . '/bootstrap.php';

use Illuminate\Queue\Queue as BaseQueue;

$app = interop_app();
$queue = $app['queue']->connection();

$uuid = null;
BaseQueue::createPayloadUsing(function ($connection, $queue, $payload) use (&$uuid) {
    $uuid = $payload['uuid'] ?? null;
    return [];
});

$ops = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
foreach ($ops as $op) {
    $uuid = null;
    $q = $op['queue'] ?? null;
    if (isset($op['push'])) {
        $id = $queue->push($op['push'], $op['data'] ?? '', $q);
    } elseif (isset($op['later'])) {
        $id = $queue->later($op['delay'], $op['later'], $op['data'] ?? '', $q);
    } elseif (isset($op['raw'])) {
        $id = $queue->pushRaw($op['raw'], $q);
        $uuid = json_decode($op['raw'], true)['uuid'] ?? null;
    } elseif (isset($op['object'])) {
        $id = $queue->push(new Interop\SendInvoice(...$op['object']), '', $q);
    } elseif (isset($op['encrypted'])) {
        $id = $queue->push(new Interop\SecretInvoice(...$op['encrypted']), '', $q);
    } elseif (isset($op['chain'])) {
        $class = ($op['sealed'] ?? false) ? Interop\SecretChainStep::class : Interop\ChainStep::class;
        $steps = array_map(fn ($s) => (new $class($s[0], $s[2] ?? false))->onQueue($s[1]), $op['chain']);
        $first = array_shift($steps);
        $first->chain($steps);
        $first->chainCatchCallbacks = [];
        for ($i = 1; $i <= ($op['catch'] ?? 0); $i++) {
            $first->chainCatchCallbacks[] = Illuminate\Queue\SerializableClosureFactory::make(
                function ($e) use ($i) { Interop\record(['job' => 'catch', 'data' => $i]); }
            );
        }
        $id = dispatch($first);
    } elseif (isset($op['unique'])) {
        $id = dispatch((new Interop\UniqueReport($op['unique']))->onQueue($q));
    } elseif (isset($op['batch'])) {
        $jobs = [];
        foreach ($op['batch'] as $i => $fail) {
            $jobs[] = new Interop\BatchStep($i + 1, $fail);
        }
        $pending = (new Illuminate\Bus\PendingBatch($app, collect($jobs)))->onQueue($q)
            ->allowFailures($op['allowFailures'] ?? false);
        if ($op['then'] ?? false) {
            $pending->then(function ($batch) { Interop\record(['job' => 'then']); })
                ->catch(function ($batch, $e) { Interop\record(['job' => 'catch']); });
        }
        $id = $pending->dispatch()->id;
        $uuid = null;
    } else {
        throw new InvalidArgumentException('unknown operation ' . json_encode($op));
    }
    echo json_encode(['id' => (string) $id, 'uuid' => $uuid]), "\n";
}

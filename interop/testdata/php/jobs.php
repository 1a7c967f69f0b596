<?php
// jobs.php holds the job classes the interop tests run under Laravel's worker or dispatch to qctl.

namespace Interop;

use Illuminate\Bus\Batchable;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldBeEncrypted;
use Illuminate\Contracts\Queue\ShouldBeUnique;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Queue\InteractsWithQueue;
use RuntimeException;

/** record appends one JSON line describing a run to $QCTL_PHP_RECORD, for the Go test to read. */
function record(array $line): void
{
    $file = getenv('QCTL_PHP_RECORD');
    if ($file === false || $file === '') {
        throw new RuntimeException('QCTL_PHP_RECORD is not set');
    }
    file_put_contents($file, json_encode($line, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) . "\n", FILE_APPEND | LOCK_EX);
}

/**
 * RecordJob is a string job handler ('Interop\RecordJob@handle'): it records the data, job name,
 * uuid, queue and attempt it got, then deletes the job, as a Laravel string-job handler must.
 */
class RecordJob
{
    public function handle($job, $data)
    {
        record([
            'job' => $job->getName(),
            'display' => $job->resolveName(),
            'uuid' => $job->uuid(),
            'id' => (string) $job->getJobId(),
            'queue' => $job->getQueue(),
            'attempts' => $job->attempts(),
            'maxTries' => $job->maxTries(),
            'at' => time(),
            'data' => $data,
        ]);
        $job->delete();
    }
}

/** FailJob throws, so Laravel's worker fails the job once its tries are used up. */
class FailJob
{
    public function handle($job, $data)
    {
        record(['job' => $job->getName(), 'uuid' => $job->uuid(), 'attempts' => $job->attempts(), 'failed' => true]);
        throw new RuntimeException('Laravel handler refused: ' . json_encode($data));
    }
}

/** SendInvoice is an object job, dispatched with constructor arguments (Queue::push(new SendInvoice(...))). */
class SendInvoice implements ShouldQueue
{
    use Queueable;

    public $tries = 3;

    public function __construct(
        public int $invoiceId,
        public string $email,
        public array $lines,
        public ?float $discount = null,
        protected bool $urgent = false,
    ) {
    }

    public function handle()
    {
        record(['invoiceId' => $this->invoiceId, 'email' => $this->email, 'lines' => $this->lines]);
    }
}

/** SecretInvoice is SendInvoice sealed with the application's key (ShouldBeEncrypted). */
class SecretInvoice extends SendInvoice implements ShouldBeEncrypted
{
}

/** ChainStep is one job of a chain (Bus::chain): it records its step, where it ran and what is left. */
class ChainStep implements ShouldQueue
{
    use InteractsWithQueue, Queueable;

    public function __construct(public string $step, public bool $fail = false)
    {
    }

    public function handle()
    {
        record(['job' => 'ChainStep', 'uuid' => $this->job->uuid(), 'queue' => $this->job->getQueue(),
            'attempts' => $this->job->attempts(), 'data' => ['step' => $this->step, 'chained' => count($this->chained)]]);
        if ($this->fail) {
            throw new RuntimeException("step {$this->step} refused");
        }
    }
}

/** UniqueReport is a ShouldBeUnique job: one per report may be queued at a time (its uniqueId). */
class UniqueReport implements ShouldQueue, ShouldBeUnique
{
    use Queueable;

    public $uniqueId;

    public function __construct(public string $report)
    {
        $this->uniqueId = $report;
    }

    public function handle()
    {
        record(['job' => 'UniqueReport', 'data' => $this->report]);
    }
}

/** BatchStep is a job of a Bus::batch; like Laravel's documented batched jobs it does nothing once its batch is cancelled. */
class BatchStep implements ShouldQueue
{
    use Batchable, InteractsWithQueue, Queueable;

    public function __construct(public int $n, public bool $fail = false)
    {
    }

    public function handle()
    {
        if ($this->batch()->cancelled()) {
            return;
        }
        record(['job' => 'BatchStep', 'uuid' => $this->job->uuid(), 'data' => ['n' => $this->n]]);
        if ($this->fail) {
            throw new RuntimeException("batch step {$this->n} refused");
        }
    }
}

/** SecretChainStep is a ChainStep sealed with the application's key (ShouldBeEncrypted). */
class SecretChainStep extends ChainStep implements ShouldBeEncrypted
{
}

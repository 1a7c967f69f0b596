<?php
// gen.php writes the Laravel object-job payloads that jobs/command_test.go and
// worker/objectjob_test.go decode. Each NAME.json is exactly what Laravel's Queue::createPayload
// produces for `dispatch(new Class(...))`: the command is PHP's own serialize() of the object, so
// the tests check qctl against real PHP output rather than against our reading of the format.
//
// Regenerate (PHP 8.1+ with Debian's php-illuminate-queue, php-illuminate-database and
// php-illuminate-bus; the uuids change on every run, nothing else does):
//
//	cd jobs/testdata/laravel && php gen.php
//
// The expected decoded values live in the Go tests, written by hand from the constructors below.

// The Laravel job lives in App\Jobs and its model in App\Models, as in an application, so class
// names with backslashes go through the fixtures; PHP then wants every part in a namespace block.

namespace {

require_once 'Illuminate/Queue/autoload.php';
require_once 'Illuminate/Bus/autoload.php';

}

namespace App\Models {

use Illuminate\Database\Eloquent\Model;

class User extends Model
{
}

}

namespace App\Jobs {

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;
use App\Models\User;

class SendEmail implements ShouldQueue
{
    use InteractsWithQueue, Queueable, SerializesModels;

    public $tries = 3;
    public $user;
    public $recipients;
    protected $subject;
    private $tags;

    public function __construct(User $user, $recipients, string $subject, array $tags)
    {
        $this->user = $user;
        $this->recipients = $recipients;
        $this->subject = $subject;
        $this->tags = $tags;
    }
}

class AfterEmail implements ShouldQueue
{
    use Queueable;

    public $note = 'sent';
}

}

namespace {

use App\Jobs\AfterEmail;
use App\Jobs\SendEmail;
use App\Models\User;
use Illuminate\Container\Container;
use Illuminate\Database\Eloquent\Collection;
use Illuminate\Queue\NullQueue;

// PayloadMaker exposes Laravel's protected createPayload, which every driver uses for push.
class PayloadMaker extends NullQueue
{
    public function payloadFor($job, $queue)
    {
        return $this->createPayload($job, $queue);
    }
}

$maker = new PayloadMaker();
$maker->setContainer(new Container());

function write($name, $job)
{
    global $maker;
    file_put_contents(__DIR__."/$name.json", $maker->payloadFor($job, 'default')."\n");
}

// --- scalars.json: public properties of every scalar kind, and strings that trip naive parsers.
class Scalars
{
    public $to = 'ada@example.com';
    public $count = 3;
    public $big = PHP_INT_MAX;
    public $negative = PHP_INT_MIN;
    public $ratio = 1.5;
    public $tenth = 0.1;
    public $whole = 2.0;
    public $huge = 1e25;
    public $tiny = 1e-10;
    public $yes = true;
    public $no = false;
    public $nothing = null;
    public $empty = '';
    public $unicode = 'Grüße, 世界 🚀';
    public $tricky = "quote\" semi; brace} colon: s:3:\"x\"; NUL\0end";
    public $backslashes = 'C:\new\x41\'s \\ and App\Jobs\xNext';
    public $json = '{"line":"one\ntwo","tab":"\t"}';
}
write('scalars', new Scalars());

// --- visibility.json: protected and private names, and a private of a parent class that a
// child's property of the same name hides.
class Base
{
    private $secret = 'base secret';
    private $onlyInBase = 'base only';
    private $name = 'base name';
}

class Visibility extends Base
{
    public $name = 'public name';
    protected $subject = 'Hello';
    private $secret = 'own secret';
}
write('visibility', new Visibility());

// --- arrays.json: lists, maps, and the arrays in between.
class Item
{
    public $sku;
    protected $qty;

    public function __construct($sku, $qty)
    {
        $this->sku = $sku;
        $this->qty = $qty;
    }
}

class Arrays
{
    public $list = ['a', 'b', 'c'];
    public $empty = [];
    public $map = ['x' => 1, 'y' => ['z' => null]];
    public $sparse = [0 => 'zero', 2 => 'two'];
    public $reordered = [1 => 'one', 0 => 'zero'];
    public $mixed = [0 => 'first', 'key' => 'value'];
    public $numericKeys = ['5' => 'five', '-1' => 'minus one'];
    public $nested = [[1, 2], [3, [4, 5]]];
    public $items;

    public function __construct()
    {
        $this->items = [new Item('A-1', 2), new Item('B-2', 1)];
    }
}
write('arrays', new Arrays());

// --- references.json: one object held twice (r:) and a PHP reference (R:).
class References
{
    public $first;
    public $second;
    public $value = 'shared';
    public $alias;

    public function __construct()
    {
        $this->first = new Item('SAME', 1);
        $this->second = $this->first;
        $this->alias = &$this->value;
    }
}
write('references', new References());

// --- send_email.json: a real Laravel job with an Eloquent model, a collection of models,
// Queueable's settings and a chain (the classes are at the top of this file).
function user($id)
{
    $user = new User();
    $user->id = $id;
    $user->exists = true;

    return $user;
}

$user = user(42);
$user->setRelation('posts', new Collection());
$job = new SendEmail($user, new Collection([user(7), user(8)]), 'Welcome, Ada', ['welcome', 'onboarding']);
$job->onConnection('redis')->onQueue('emails')->delay(10)->chain([new AfterEmail()]);
write('send_email', $job);

// --- enum.json: a PHP 8.1 enum case.
enum Status: string
{
    case Active = 'active';
}

class WithEnum
{
    public $status = Status::Active;
}
write('enum', new WithEnum());

// --- closure.json: a property holding an Opis closure, which PHP writes with its own
// Serializable format (C:), so qctl cannot decode it.
class WithClosure
{
    public $callback;

    public function __construct()
    {
        $this->callback = new Opis\Closure\SerializableClosure(function ($x) {
            return $x * 2;
        });
    }
}
write('closure', new WithClosure());

// --- custom.json: a job class that serializes itself (Serializable), written as C: at the top.
class Custom implements Serializable
{
    public $data = 'x';

    public function serialize()
    {
        return 'opaque';
    }

    public function unserialize($data)
    {
    }
}
write('custom', new Custom());

// --- cycle.json: an object that refers to itself, which JSON cannot express.
class Cycle
{
    public $self;

    public function __construct()
    {
        $this->self = $this;
    }
}
write('cycle', new Cycle());

}

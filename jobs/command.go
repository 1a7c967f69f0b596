package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrBadCommand is wrapped by the error Command (and so Job.Data, Job.Bind and an exec handler
// with stdin = "data") returns when a Laravel object job's command cannot be decoded. Retrying
// cannot change the bytes, so the worker fails such a job at once. The error reads
// `cannot decode the command of App\Jobs\X: <what was wrong>`.
var ErrBadCommand = errors.New("cannot decode the command")

// IsObjectJob reports whether the payload is a Laravel object job (a class implementing
// ShouldQueue), whose data holds the PHP-serialized command instead of the user's JSON.
func (p *Payload) IsObjectJob() bool {
	return p.Job == CallQueuedHandlerJob
}

// Command decodes a Laravel object job's data.command, PHP's serialize() of the job object, and
// returns the object's class and its properties as one JSON object, so a handler in any language
// can read the constructor arguments without a PHP unserializer. The mapping:
//
//   - Property names lose PHP's visibility markers ("\0*\0subject" and "\0App\Jobs\X\0tags" become
//     "subject" and "tags"). When a parent class's private property shares a name with one the
//     class itself sees, the class's own wins and the parent's is dropped.
//   - Every object, the command itself included, carries its class under "@class", written first.
//     An Eloquent model arrives as Laravel's ModelIdentifier:
//     {"@class":"Illuminate\\Contracts\\Database\\ModelIdentifier","class":"App\\Models\\User","id":42,...}.
//   - An array with keys 0..n-1 in order becomes a JSON array (as PHP's json_encode does); any
//     other array an object whose keys are the PHP keys as text.
//   - Ints and floats become JSON numbers (a whole float such as 2.0 is written 2), strings keep
//     their UTF-8 text, a PHP 8.1 enum case becomes its case name, and a value PHP serialized once
//     and referenced again (r:, R:) is copied at each use.
//   - Properties added by Laravel's Queueable and InteractsWithQueue traits (job, connection,
//     queue, chainConnection, chainQueue, chainCatchCallbacks, delay, afterCommit, middleware,
//     chained) are kept like any other; handlers can ignore them.
//
// What has no JSON form is an error wrapping ErrBadCommand that names the class and what was
// wrong: an encrypted command (ShouldBeEncrypted), a class with its own serializer (C:, such as an
// Opis closure), a cycle, INF or NAN, a binary string, or text that is cut short or malformed.
// The class is returned with the error whenever the payload names one.
func (p *Payload) Command() (class string, props json.RawMessage, err error) {
	if !p.IsObjectJob() {
		return "", nil, fmt.Errorf("job %q is not a Laravel object job, so it has no command", p.Job)
	}
	var data struct {
		CommandName string          `json:"commandName"`
		Command     json.RawMessage `json:"command"`
	}
	if err := json.Unmarshal(p.Data, &data); err != nil {
		return p.DisplayName, nil, badCommand(p.DisplayName, "data is not an object with a command: %v", err)
	}
	class = data.CommandName
	if class == "" {
		class = p.DisplayName
	}
	var command string
	if len(data.Command) == 0 || json.Unmarshal(data.Command, &command) != nil {
		return class, nil, badCommand(class, "data.command is missing or not a string")
	}
	raw := []byte(command)
	switch {
	case bytes.HasPrefix(raw, []byte("O:")):
	case bytes.HasPrefix(raw, []byte("C:")):
		return class, nil, badCommand(class, "the class has its own serializer (C:), which only PHP can read")
	case bytes.HasPrefix(raw, []byte("eyJ")): // base64 of `{"`: Laravel's encrypter output
		return class, nil, badCommand(class, "the command is encrypted (the job implements ShouldBeEncrypted), so qctl needs app_key (the application's APP_KEY) to read it")
	default:
		return class, nil, badCommand(class, "data.command is not a serialized PHP object: it starts %.24q", command)
	}
	v, err := unserializePHP(raw)
	if err != nil {
		return class, nil, badCommand(class, "%v", err)
	}
	return v.class, appendJSON(make([]byte, 0, len(raw)), v), nil
}

// badCommand builds Command's error; class may be "" when the payload names none.
func badCommand(class, format string, args ...any) error {
	if class == "" {
		class = "an unnamed job class"
	}
	return fmt.Errorf("%w of %s: %s", ErrBadCommand, class, fmt.Sprintf(format, args...))
}

package beanstalkqueue

import "strings"

// joinErrors is errors.Join on one line: it returns nil when every err is nil, and otherwise an
// error whose text separates theirs with "; " instead of newlines (a worker logs one line per
// error, and a second line would carry no timestamp), while errors.Is and errors.As still reach
// each of them.
func joinErrors(errs ...error) error {
	var j joinedErrors
	for _, err := range errs {
		if err != nil {
			j = append(j, err)
		}
	}
	if len(j) == 0 {
		return nil
	}
	return j
}

type joinedErrors []error

func (j joinedErrors) Error() string {
	texts := make([]string, len(j))
	for i, err := range j {
		texts[i] = err.Error()
	}
	return strings.Join(texts, "; ")
}

func (j joinedErrors) Unwrap() []error { return j }

package bench

import (
	"errors"
	"fmt"
)

// ErrConfig is wrapped by errors about an unusable Config.
var ErrConfig = errors.New("bench: bad configuration")

// ErrUnsupported is returned where child processes or /proc are not available.
var ErrUnsupported = errors.New("bench: child processes and /proc are only supported on Linux")

// ChildError says that a process the benchmark started failed to come up
// or died; Output is the end of what it printed.
type ChildError struct {
	Name   string
	Err    error
	Output string
}

func (e *ChildError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("bench: %s: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("bench: %s: %v; its output ends with:\n%s", e.Name, e.Err, e.Output)
}

func (e *ChildError) Unwrap() error { return e.Err }

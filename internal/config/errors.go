package config

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every problem reported by this package wraps one of them
// (or, for files that cannot be read, the underlying *fs.PathError), so
// callers can tell problems apart with errors.Is.
var (
	// ErrRequired marks a setting that must be given but is empty.
	ErrRequired = errors.New("required setting missing")
	// ErrInvalid marks a setting whose value is malformed or out of range.
	ErrInvalid = errors.New("invalid setting")
	// ErrDuplicate marks a value that must be unique but is repeated.
	ErrDuplicate = errors.New("duplicate setting")
	// ErrConflict marks settings that are valid alone but not together.
	ErrConflict = errors.New("conflicting settings")
	// ErrUnknownKey marks a YAML key that the configuration does not have.
	ErrUnknownKey = errors.New("unknown configuration key")
	// ErrSyntax marks a configuration file that is not well-formed YAML.
	ErrSyntax = errors.New("invalid YAML")
)

// FieldError is one configuration problem. Its message is a single line
// "<field>: <what is wrong>", where field is the path of the setting in the
// configuration file (for example "entities[2].approvals[0].valid_until")
// or the name of an environment variable (for example "TW_SUBJECT_KEY").
type FieldError struct {
	// Field is the path of the setting in error.
	Field string
	// Msg says what is wrong, without the field.
	Msg string
	// Err is the sentinel (ErrRequired, ErrInvalid, ...) or underlying
	// cause; it is returned by Unwrap.
	Err error
}

// Error returns "<field>: <what is wrong>".
func (e *FieldError) Error() string {
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return e.Field + ": " + msg
}

// Unwrap returns the sentinel or underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// lineError is a YAML problem that could not be tied to one field path.
type lineError struct {
	line int
	msg  string
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }
func (e *lineError) Unwrap() error { return e.err }

// msgError is a YAML problem as the decoder worded it (which usually
// includes the line).
type msgError struct {
	msg string
	err error
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.err }

// problems collects every problem found, so that all of them are reported
// at once rather than the first alone.
type problems []error

// add records a problem with field, wrapping sentinel.
func (p *problems) add(field string, sentinel error, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Err: sentinel, Msg: fmt.Sprintf(format, args...)})
}

// addErr records err unless it is nil; joined errors are flattened.
func (p *problems) addErr(err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			p.addErr(e)
		}
		return
	}
	*p = append(*p, err)
}

// join returns every problem joined, one per line, or nil when there is none.
// Problems whose message repeats an earlier one are dropped.
func (p problems) join() error {
	if len(p) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(p))
	out := make([]error, 0, len(p))
	for _, e := range p {
		if msg := e.Error(); !seen[msg] {
			seen[msg] = true
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

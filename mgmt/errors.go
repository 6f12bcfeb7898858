package mgmt

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Handlers map them to HTTP statuses (see APIError).
var (
	// ErrStoreLocked means another process holds the data directory's store,
	// usually a running management server.
	ErrStoreLocked = errors.New("the store is in use by another process (is `termgate mgmt serve` running on this data directory?)")
	// ErrNotInitialized means the data directory has no store yet.
	ErrNotInitialized = errors.New("data directory is not initialised (run `termgate mgmt init`)")
	// ErrSchemaTooNew means the store was written by a newer termgate.
	ErrSchemaTooNew = errors.New("store schema is newer than this termgate understands")
	// ErrNotFound means the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change contradicts the current state.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means a value failed validation.
	ErrInvalid = errors.New("invalid value")
	// ErrUnauthorized means the caller is not authenticated.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means the caller may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited means too many attempts; retry later.
	ErrRateLimited = errors.New("too many attempts")
	// ErrEnrollCode means an enrollment code is unknown, used or expired.
	ErrEnrollCode = errors.New("enrollment code is unknown, already used or expired")
	// ErrNoProxyAddress means launch cannot tell clients how to reach a
	// proxy: Config.ProxyAddress is empty or no proxy is enrolled.
	ErrNoProxyAddress = errors.New("no proxy to launch through")
	// ErrNotListening means Serve was called on a server made with Open.
	ErrNotListening = errors.New("server was opened without a listener (use New)")
	// ErrClosed means the server is closed.
	ErrClosed = errors.New("server closed")
	// ErrReplica means a change was attempted on a slave, whose replicated
	// state changes only through the master's snapshots: send the change
	// to the master (the HTTP API forwards it).
	ErrReplica = errors.New("this node is a replication slave: change the master instead")
	// ErrMasterUnreachable means a slave could not forward a change to the master.
	ErrMasterUnreachable = errors.New("the replication master is unreachable")
	// ErrPreconditionFailed means an If-Match did not match the object's ETag:
	// someone else changed it since it was read.
	ErrPreconditionFailed = errors.New("the object changed since it was read (If-Match does not match its ETag)")
	// ErrSnapshot means a replication snapshot was refused (see SnapshotError).
	ErrSnapshot = errors.New("snapshot refused")
	// ErrTicket means a metering ticket or heartbeat was refused.
	ErrTicket = errors.New("metering ticket refused")
	// ErrStorageFull means the file system holding the data directory has
	// no space left, so a change could not be saved (see StorageFullError).
	ErrStorageFull = errors.New("no space left on the disk of the management store")
)

// StorageFullError is a write to the store that failed because the file
// system holding the data directory Dir is full (ENOSPC). The change was
// not saved: the store keeps its last committed state. errors.Is matches
// both ErrStorageFull and the underlying error (syscall.ENOSPC).
type StorageFullError struct {
	Dir string
	Err error
}

func (e *StorageFullError) Error() string {
	return fmt.Sprintf("the disk holding the data directory %s is full; free space on it and retry (the change was not saved): %v", e.Dir, e.Err)
}

func (e *StorageFullError) Unwrap() []error { return []error{ErrStorageFull, e.Err} }

// SnapshotError says why a replication snapshot was refused. Reason is one
// of the Snapshot* codes; Epoch and Master are what the refusing node knows
// (a pushing master that sees a higher Epoch steps down).
type SnapshotError struct {
	Reason string
	Detail string
	Epoch  uint64
	Master string
}

func (e *SnapshotError) Error() string {
	return fmt.Sprintf("snapshot refused (%s): %s", e.Reason, e.Detail)
}

func (e *SnapshotError) Unwrap() error { return ErrSnapshot }

// Reasons of a SnapshotError (also the error codes of the snapshot endpoint).
const (
	SnapshotMalformed     = "snapshot_malformed" // not a signed snapshot, truncated, bad payload
	SnapshotTooLarge      = "too_large"          // over Config.MaxSnapshotBytes
	SnapshotUnsigned      = "snapshot_unsigned"  // no signature
	SnapshotBadSignature  = "snapshot_signature" // no signature verifies with a group signer of the named master
	SnapshotStaleEpoch    = "stale_epoch"        // epoch lower than the one this node knows
	SnapshotWrongMaster   = "wrong_master"       // same epoch, another master
	SnapshotStaleRevision = "stale_revision"     // revision not newer than the applied one
	SnapshotNotReplica    = "not_replicating"    // this node is standalone
	SnapshotNotMember     = "not_member"         // the snapshot lacks this node's signing key
	SnapshotSchema        = "snapshot_schema"    // another store schema
)

// Error codes of the JSON error body {"error":{"code","message"}}.
const (
	CodeBadRequest   = "bad_request"
	CodeInvalidJSON  = "invalid_json"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeTooLarge     = "too_large"
	CodeRateLimited  = "rate_limited"
	CodeInternal     = "internal"
	CodeUnavailable  = "unavailable"
	// CodeMasterUnreachable: a slave could not forward a change (503).
	CodeMasterUnreachable = "master_unreachable"
	// CodePreconditionFailed: If-Match does not match (412).
	CodePreconditionFailed = "precondition_failed"
	// CodeReplica: a change reached a slave that cannot forward it (409).
	CodeReplica = "replica"
	// CodeStorageFull: the disk holding the data directory is full (507).
	CodeStorageFull = "storage_full"
)

// APIError is an error of the HTTP API: the status, the code and a message
// that is safe to show (it never contains a secret). The client returns it
// for every non-2xx answer.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int // seconds, for 429
	Err        error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *APIError) Unwrap() error { return e.Err }

func apiErr(status int, code, format string, a ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// toAPIError maps any error to an APIError; unknown errors become 500 with a
// generic message (the detail goes to the log only).
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var re *RateLimitError
	var se *SnapshotError
	var sf *StorageFullError
	switch {
	case errors.As(err, &sf):
		return &APIError{Status: http.StatusInsufficientStorage, Code: CodeStorageFull, Err: err,
			Message: fmt.Sprintf("the disk holding the data directory %s is full: free space on it and retry (the change was not saved)", sf.Dir)}
	case errors.As(err, &se):
		st := http.StatusConflict
		switch se.Reason {
		case SnapshotMalformed, SnapshotUnsigned, SnapshotSchema:
			st = http.StatusBadRequest
		case SnapshotTooLarge:
			st = http.StatusRequestEntityTooLarge
		case SnapshotBadSignature, SnapshotNotMember:
			st = http.StatusForbidden
		}
		return &APIError{Status: st, Code: se.Reason, Message: se.Error(), Err: err}
	case errors.Is(err, ErrPreconditionFailed):
		return &APIError{Status: http.StatusPreconditionFailed, Code: CodePreconditionFailed, Message: err.Error(), Err: err}
	case errors.Is(err, ErrMasterUnreachable):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeMasterUnreachable, Message: err.Error(), Err: err}
	case errors.Is(err, ErrReplica):
		return &APIError{Status: http.StatusConflict, Code: CodeReplica, Message: err.Error(), Err: err}
	case errors.As(err, &re):
		return &APIError{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Message: err.Error(), RetryAfter: re.retrySeconds(), Err: err}
	case errors.Is(err, ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, ErrConflict):
		return &APIError{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error(), Err: err}
	case errors.Is(err, ErrInvalid):
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, ErrUnauthorized):
		return &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: err.Error(), Err: err}
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrEnrollCode):
		return &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Message: err.Error(), Err: err}
	case errors.Is(err, ErrNoProxyAddress) && err == ErrNoProxyAddress:
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "no proxy address configured (set --proxy-address)", Err: err}
	case errors.Is(err, ErrNoProxyAddress):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: err.Error(), Err: err}
	}
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error (see the server log)", Err: err}
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

package vthost

import "errors"

// ErrServerClosed is returned by Serve and ListenAndServe after Close.
var ErrServerClosed = errors.New("vthost: server closed")

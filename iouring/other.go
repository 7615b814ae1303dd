//go:build !linux

package iouring

import (
	"context"
	"errors"
	"fmt"
)

// Supported reports errors.ErrUnsupported: io_uring is Linux only.
func Supported() error {
	return fmt.Errorf("iouring: %w: io_uring is Linux only", errors.ErrUnsupported)
}

type uring struct{}

func newURing(*Ring) (*uring, error) { return nil, Supported() }

func (*uring) readAt(context.Context, *fileEntry, uint32, []byte, int64) (int, error) {
	return 0, Supported()
}
func (*uring) readBatch(context.Context, []Read) error { return Supported() }
func (*uring) addFile(uint32, int) error               { return Supported() }
func (*uring) removeFile(uint32) error                 { return Supported() }
func (*uring) inFlight() int64                         { return 0 }
func (*uring) close() error                            { return nil }

const oDirect = 0 // no O_DIRECT here (macOS uses F_NOCACHE)

//go:build linux

package iouring

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUnsupportedErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		hint string
	}{
		{unix.ENOSYS, "kernel built without io_uring"},
		{unix.EPERM, "seccomp"},
		{unix.EINVAL, ""},
	} {
		err := unsupported(c.err)
		if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, c.err) {
			t.Errorf("unsupported(%v) = %v: want it to match errors.ErrUnsupported and the errno", c.err, err)
		}
		if !strings.Contains(err.Error(), c.hint) {
			t.Errorf("unsupported(%v) = %q: want the hint %q", c.err, err, c.hint)
		}
	}
}

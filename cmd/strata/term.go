package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal: a file whose terminal
// attributes can be read, as golang.org/x/term's IsTerminal does on Linux
// (this module does not otherwise need x/term, and builds for Linux only:
// the cache tiers use Linux system calls).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

//go:build linux

package iouring_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/stratadb/strata/iouring"
)

func Example() {
	dir, err := os.MkdirTemp("", "iouring-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "blocks")
	if err := os.WriteFile(path, make([]byte, 4*iouring.BlockSize), 0o644); err != nil {
		panic(err)
	}

	r, err := iouring.Open(iouring.Options{}) // io_uring where allowed, else pread
	if err != nil {
		panic(err)
	}
	defer r.Close()

	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil { // e.g. EINVAL on a file system without O_DIRECT
		f, err = os.Open(path)
	}
	if err != nil {
		panic(err)
	}
	defer f.Close()
	h, err := r.AddFile(f)
	if err != nil {
		panic(err)
	}

	buf := iouring.AlignedBuffer(iouring.BlockSize)
	n, err := r.ReadAt(context.Background(), h, buf, 2*iouring.BlockSize)
	fmt.Println(n, err)
	// Output: 4096 <nil>
}

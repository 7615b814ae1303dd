//go:build linux

package iouring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratadb/strata/iouring"
)

// testFile writes size random bytes to a new file in t.TempDir.
func testFile(t testing.TB, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8; k++ {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// openDirect opens path with O_DIRECT, skipping t where the file system
// refuses it.
func openDirect(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("O_DIRECT not supported on the file system of %s: %v", path, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// eachBackend runs fn once per backend: io_uring (skipped with the reason
// where Supported reports an error) and the pread fallback.
func eachBackend(t *testing.T, opts iouring.Options, fn func(t *testing.T, r *iouring.Ring)) {
	for _, b := range []iouring.Backend{iouring.BackendIOUring, iouring.BackendPread} {
		t.Run(string(b), func(t *testing.T) {
			o := opts
			if b == iouring.BackendIOUring {
				if err := iouring.Supported(); err != nil {
					t.Skipf("io_uring unavailable: %v", err)
				}
			} else {
				o.ForcePread = true
			}
			r, err := iouring.Open(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			if r.Backend() != b {
				t.Fatalf("Backend() = %s (reason %q), want %s", r.Backend(), r.FallbackReason(), b)
			}
			fn(t, r)
		})
	}
}

func TestSupported(t *testing.T) {
	err := iouring.Supported()
	t.Logf("Supported() = %v", err)
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Supported() error %v does not match errors.ErrUnsupported", err)
	}
	if err2 := iouring.Supported(); (err == nil) != (err2 == nil) {
		t.Errorf("Supported() not remembered: %v then %v", err, err2)
	}
	r, err := iouring.Open(iouring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := iouring.BackendIOUring
	if err != nil {
		want = iouring.BackendPread
	}
	if iouring.Supported() != nil {
		want = iouring.BackendPread
	}
	if r.Backend() != want || r.Stats().Backend != want {
		t.Errorf("Backend() = %s, Stats().Backend = %s, want %s", r.Backend(), r.Stats().Backend, want)
	}
	if (want == iouring.BackendIOUring) != (r.FallbackReason() == "") {
		t.Errorf("FallbackReason() = %q with backend %s", r.FallbackReason(), want)
	}
}

func TestForcePread(t *testing.T) {
	r, err := iouring.Open(iouring.Options{ForcePread: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Backend() != iouring.BackendPread || r.FallbackReason() == "" {
		t.Fatalf("Backend() = %s, FallbackReason() = %q", r.Backend(), r.FallbackReason())
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []iouring.Options{
		{Entries: 3},
		{Entries: iouring.MaxEntries * 2},
		{FixedBuffers: -1},
		{FixedBuffers: 2, FixedBufferSize: 1000},
		{FixedBuffers: 1 << 20, FixedBufferSize: 1 << 20},
		{MaxFiles: -1},
		{MaxFiles: iouring.MaxFiles + 1},
	} {
		if r, err := iouring.Open(o); err == nil {
			r.Close()
			t.Errorf("Open(%+v) succeeded, want a validation error", o)
		}
	}
}

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096, 4097, 1 << 20} {
		b := iouring.AlignedBuffer(n)
		if len(b)%iouring.BlockSize != 0 || len(b) < n || len(b) == 0 {
			t.Errorf("AlignedBuffer(%d): len %d", n, len(b))
		}
		if addr := uintptrOf(b); addr%iouring.BlockSize != 0 {
			t.Errorf("AlignedBuffer(%d): address %#x not aligned", n, addr)
		}
	}
}

func TestRandomAlignedReads(t *testing.T) {
	const size = 4 << 20
	path, data := testFile(t, size)
	eachBackend(t, iouring.Options{}, func(t *testing.T, r *iouring.Ring) {
		h, err := r.AddFile(openDirect(t, path))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		buf := iouring.AlignedBuffer(64 << 10)
		for i := 0; i < 500; i++ {
			n := (1 + rng.IntN(16)) * iouring.BlockSize
			off := int64(rng.IntN(size/iouring.BlockSize-16)) * iouring.BlockSize
			got, err := r.ReadAt(context.Background(), h, buf[:n], off)
			if err != nil || got != n {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, got, err)
			}
			if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
				t.Fatalf("ReadAt(%d bytes at %d): contents differ from the file", n, off)
			}
		}
		st := r.Stats()
		if st.Bytes == 0 || st.Completed < 500 || st.InFlight != 0 || st.Files != 1 {
			t.Errorf("Stats after 500 reads: %+v", st)
		}
		// One enter submits a read and waits for it; a signal (EINTR)
		// now and then costs another.
		if r.Backend() == iouring.BackendIOUring && st.Enters > st.Submitted+st.Submitted/20 {
			t.Errorf("QD1 reads took %d enters for %d submissions; want one enter per read", st.Enters, st.Submitted)
		}
	})
}

func TestBufferedFile(t *testing.T) {
	path, data := testFile(t, 3*iouring.BlockSize+100)
	eachBackend(t, iouring.Options{}, func(t *testing.T, r *iouring.Ring) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		h, err := r.AddFile(f)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 777)
		n, err := r.ReadAt(context.Background(), h, buf, 13)
		if err != nil || n != len(buf) || !bytes.Equal(buf, data[13:13+777]) {
			t.Fatalf("unaligned buffered ReadAt = %d, %v (equal %v)", n, err, bytes.Equal(buf, data[13:13+777]))
		}
		n, err = r.ReadAt(context.Background(), h, buf, int64(len(data)-50))
		if n != 50 || err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:50], data[len(data)-50:]) {
			t.Fatalf("ReadAt across EOF = %d, %v, want 50, io.ErrUnexpectedEOF", n, err)
		}
	})
}

func TestReadPastEOF(t *testing.T) {
	size := 3*iouring.BlockSize + 100
	path, data := testFile(t, size)
	eachBackend(t, iouring.Options{}, func(t *testing.T, r *iouring.Ring) {
		h, err := r.AddFile(openDirect(t, path))
		if err != nil {
			t.Fatal(err)
		}
		buf := iouring.AlignedBuffer(2 * iouring.BlockSize)
		// The last block holds 100 bytes.
		n, err := r.ReadAt(context.Background(), h, buf, 3*iouring.BlockSize)
		if n != 100 || err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:100], data[3*iouring.BlockSize:]) {
			t.Errorf("ReadAt of the last block = %d, %v; want 100, io.ErrUnexpectedEOF", n, err)
		}
		// Two blocks from the third: one full, one short.
		n, err = r.ReadAt(context.Background(), h, buf, 2*iouring.BlockSize)
		if n != iouring.BlockSize+100 || err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:n], data[2*iouring.BlockSize:]) {
			t.Errorf("ReadAt across EOF = %d, %v; want %d, io.ErrUnexpectedEOF", n, err, iouring.BlockSize+100)
		}
		// Entirely past the end.
		for _, off := range []int64{4 * iouring.BlockSize, 1 << 30} {
			n, err = r.ReadAt(context.Background(), h, buf, off)
			if n != 0 || err != io.EOF {
				t.Errorf("ReadAt at %d past EOF = %d, %v; want 0, io.EOF", off, n, err)
			}
		}
		if _, err := r.ReadAt(context.Background(), h, buf, -4096); err == nil {
			t.Errorf("ReadAt at a negative offset succeeded")
		}
		if n, err := r.ReadAt(context.Background(), h, nil, 0); n != 0 || err != nil {
			t.Errorf("ReadAt of 0 bytes = %d, %v", n, err)
		}
	})
}

func TestReadFixed(t *testing.T) {
	const size = 1 << 20
	path, data := testFile(t, size)
	eachBackend(t, iouring.Options{FixedBuffers: 4, FixedBufferSize: 16 << 10}, func(t *testing.T, r *iouring.Ring) {
		h, err := r.AddFile(openDirect(t, path))
		if err != nil {
			t.Fatal(err)
		}
		var held [][]byte
		var releases []func()
		for i := 0; i < 4; i++ {
			b, release, ok := r.FixedBuffer()
			if !ok || len(b) != 16<<10 || uintptrOf(b)%iouring.BlockSize != 0 {
				t.Fatalf("FixedBuffer #%d = len %d, ok %v", i, len(b), ok)
			}
			held, releases = append(held, b), append(releases, release)
		}
		if _, _, ok := r.FixedBuffer(); ok {
			t.Fatal("FixedBuffer handed out a fifth of four buffers")
		}
		for i, b := range held {
			off := int64(i) * 16 << 10
			// The whole buffer, then its second half: both lie inside one
			// registered buffer and take the READ_FIXED path.
			if n, err := r.ReadAt(context.Background(), h, b, off); err != nil || n != len(b) || !bytes.Equal(b, data[off:off+int64(n)]) {
				t.Fatalf("fixed ReadAt #%d = %d, %v", i, n, err)
			}
			half := b[8<<10:]
			if n, err := r.ReadAt(context.Background(), h, half, 4096); err != nil || n != len(half) || !bytes.Equal(half, data[4096:4096+len(half)]) {
				t.Fatalf("fixed ReadAt of half #%d = %d, %v", i, n, err)
			}
		}
		st := r.Stats()
		if st.FixedBuffers != 4 || st.FixedFree != 0 {
			t.Errorf("Stats: FixedBuffers %d FixedFree %d, want 4, 0", st.FixedBuffers, st.FixedFree)
		}
		if r.Backend() == iouring.BackendIOUring && st.FixedReads != 8 {
			t.Errorf("Stats.FixedReads = %d, want 8", st.FixedReads)
		}
		if r.Backend() == iouring.BackendPread && st.FixedReads != 0 {
			t.Errorf("pread Stats.FixedReads = %d, want 0", st.FixedReads)
		}
		for _, release := range releases {
			release()
		}
		if _, release, ok := r.FixedBuffer(); !ok {
			t.Error("no fixed buffer free after releasing all")
		} else {
			release()
		}
		// An ordinary buffer does not use READ_FIXED.
		before := r.Stats().FixedReads
		if _, err := r.ReadAt(context.Background(), h, iouring.AlignedBuffer(4096), 0); err != nil {
			t.Fatal(err)
		}
		if after := r.Stats().FixedReads; after != before {
			t.Errorf("a heap buffer was read with READ_FIXED (%d -> %d)", before, after)
		}
	})
	r, err := iouring.Open(iouring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, release, ok := r.FixedBuffer(); ok || b != nil || release != nil {
		t.Error("FixedBuffer without FixedBuffers configured returned a buffer")
	}
}

func TestReadBatch(t *testing.T) {
	const size = 4 << 20
	path, data := testFile(t, size)
	// More reads than Entries: the batch keeps Entries in flight and starts
	// the rest as slots free up.
	eachBackend(t, iouring.Options{Entries: 64}, func(t *testing.T, r *iouring.Ring) {
		h, err := r.AddFile(openDirect(t, path))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		reads := make([]iouring.Read, 300)
		for i := range reads {
			reads[i] = iouring.Read{File: h, Buf: iouring.AlignedBuffer(4096 * (1 + rng.IntN(4))),
				Off: int64(rng.IntN(size/4096-4)) * 4096}
		}
		reads[7].Off = size // past EOF
		enters := r.Stats().Enters
		err = r.ReadBatch(context.Background(), reads)
		if err != io.EOF {
			t.Errorf("ReadBatch = %v, want io.EOF (read 7 is past EOF)", err)
		}
		for i, rd := range reads {
			if i == 7 {
				if rd.N != 0 || rd.Err != io.EOF {
					t.Errorf("read 7 past EOF = %d, %v", rd.N, rd.Err)
				}
				continue
			}
			if rd.Err != nil || rd.N != len(rd.Buf) || !bytes.Equal(rd.Buf, data[rd.Off:rd.Off+int64(rd.N)]) {
				t.Fatalf("read %d (%d at %d) = %d, %v", i, len(rd.Buf), rd.Off, rd.N, rd.Err)
			}
		}
		if r.Backend() == iouring.BackendIOUring {
			// The first 64 go in with one enter; each read that refills
			// the window is submitted at once (see read_linux.go).
			t.Logf("300 reads in one batch: %d io_uring_enter calls", r.Stats().Enters-enters)
		}
		// A small batch fits the ring: one enter submits it all.
		small := reads[:32]
		small[7].Off = 0
		enters = r.Stats().Enters
		if err := r.ReadBatch(context.Background(), small); err != nil {
			t.Fatal(err)
		}
		if r.Backend() == iouring.BackendIOUring {
			// One enter submits all 32 and waits for all 32; a signal
			// (EINTR) may cost a second.
			if n := r.Stats().Enters - enters; n > 2 {
				t.Errorf("32 reads in one batch took %d io_uring_enter calls, want 1", n)
			}
		}
		// A bad File fails only its own read.
		bad := []iouring.Read{{File: h, Buf: iouring.AlignedBuffer(4096)}, {File: iouring.File{}, Buf: iouring.AlignedBuffer(4096)}}
		if err := r.ReadBatch(context.Background(), bad); !errors.Is(err, iouring.ErrUnknownFile) {
			t.Errorf("ReadBatch with an unknown file = %v", err)
		}
		if bad[0].Err != nil || bad[0].N != 4096 || !errors.Is(bad[1].Err, iouring.ErrUnknownFile) {
			t.Errorf("ReadBatch with an unknown file: reads = %v/%d, %v", bad[0].Err, bad[0].N, bad[1].Err)
		}
	})
}

func TestConcurrentReads(t *testing.T) {
	for _, entries := range []uint32{2, 16} {
		t.Run(fmt.Sprintf("entries=%d", entries), func(t *testing.T) { testConcurrentReads(t, iouring.Options{Entries: entries}) })
	}
	t.Run("entries=16/coop", func(t *testing.T) { testConcurrentReads(t, iouring.Options{Entries: 16, CoopTaskrun: true}) })
}

func testConcurrentReads(t *testing.T, opts iouring.Options) {
	const size = 4 << 20
	path, data := testFile(t, size)
	// Few entries and many goroutines: reads wait for slots (backpressure),
	// share enters, and hand the reaping role around; batches larger than
	// the ring keep the leadership while ReadAt callers wait on them.
	eachBackend(t, opts, func(t *testing.T, r *iouring.Ring) {
		h, err := r.AddFile(openDirect(t, path))
		if err != nil {
			t.Fatal(err)
		}
		const goroutines, perG = 24, 100
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), 9))
				buf := iouring.AlignedBuffer(8192)
				for i := 0; i < perG; i++ {
					if g%4 == 0 && i%10 == 0 {
						reads := make([]iouring.Read, 2+rng.IntN(40))
						for k := range reads {
							reads[k] = iouring.Read{File: h, Buf: iouring.AlignedBuffer(4096), Off: int64(rng.IntN(size/4096)) * 4096}
						}
						if err := r.ReadBatch(context.Background(), reads); err != nil {
							errs <- err
							return
						}
						for _, rd := range reads {
							if !bytes.Equal(rd.Buf, data[rd.Off:rd.Off+4096]) {
								errs <- errors.New("batch read: contents differ")
								return
							}
						}
						continue
					}
					n := 4096 * (1 + rng.IntN(2))
					off := int64(rng.IntN(size/4096-2)) * 4096
					got, err := r.ReadAt(context.Background(), h, buf[:n], off)
					if err != nil || got != n {
						errs <- err
						return
					}
					if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
						errs <- errors.New("contents differ")
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		st := r.Stats()
		t.Logf("stats: %+v", st)
		if st.InFlight != 0 {
			t.Errorf("InFlight = %d after all reads returned", st.InFlight)
		}
	})
}

func TestContextCancelled(t *testing.T) {
	// With 2 entries, cancel requests (which no goroutine waits for) can hold
	// every slot: readers must still make progress.
	for _, entries := range []uint32{2, 16} {
		t.Run(fmt.Sprintf("entries=%d", entries), func(t *testing.T) { testContextCancelled(t, entries) })
	}
}

func testContextCancelled(t *testing.T, entries uint32) {
	const size = 4 << 20
	path, data := testFile(t, size)
	eachBackend(t, iouring.Options{Entries: entries}, func(t *testing.T, r *iouring.Ring) {
		h, err := r.AddFile(openDirect(t, path))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		buf := iouring.AlignedBuffer(4096)
		before := r.Stats().Submitted
		if n, err := r.ReadAt(ctx, h, buf, 0); n != 0 || !errors.Is(err, context.Canceled) {
			t.Errorf("ReadAt with a cancelled context = %d, %v", n, err)
		}
		reads := []iouring.Read{{File: h, Buf: buf, Off: 0}, {File: h, Buf: iouring.AlignedBuffer(4096), Off: 4096}}
		if err := r.ReadBatch(ctx, reads); !errors.Is(err, context.Canceled) || !errors.Is(reads[1].Err, context.Canceled) {
			t.Errorf("ReadBatch with a cancelled context = %v, reads[1].Err = %v", err, reads[1].Err)
		}
		if after := r.Stats().Submitted; after != before {
			t.Errorf("a cancelled context still submitted %d reads", after-before)
		}

		// Cancel while many reads are queued and in flight: every read
		// returns either its data or the context's error, and nothing is
		// left in flight.
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, cancelled int
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				buf := iouring.AlignedBuffer(64 << 10)
				for i := 0; ; i++ {
					off := int64((g*97+i*31)%(size/(64<<10))) * (64 << 10)
					n, err := r.ReadAt(ctx, h, buf, off)
					mu.Lock()
					switch {
					case err == nil && n == len(buf) && bytes.Equal(buf, data[off:off+int64(n)]):
						ok++
					case errors.Is(err, context.Canceled):
						cancelled++
					default:
						t.Errorf("ReadAt during cancellation = %d, %v", n, err)
					}
					mu.Unlock()
					if err != nil {
						return
					}
					if g == 0 && i == 20 {
						cancel()
					}
				}
			}(g)
		}
		wg.Wait()
		t.Logf("%d reads completed, %d cancelled, stats %+v", ok, cancelled, r.Stats())
		if cancelled == 0 {
			t.Error("no read observed the cancellation")
		}
		// The ring still works, with every slot, and the read reaps the
		// completions of the cancel requests left behind.
		var wg2 sync.WaitGroup
		for g := 0; g < 2*int(entries); g++ {
			wg2.Add(1)
			go func(g int) {
				defer wg2.Done()
				buf := iouring.AlignedBuffer(4096)
				off := int64(g) * 4096
				if n, err := r.ReadAt(context.Background(), h, buf, off); err != nil || n != 4096 || !bytes.Equal(buf, data[off:off+4096]) {
					t.Errorf("ReadAt after cancellation = %d, %v", n, err)
				}
			}(g)
		}
		wg2.Wait()
		// Cancel requests have no waiter; the ring reaps them in the
		// background, and Close waits for them.
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if st := r.Stats(); st.InFlight != 0 {
			t.Errorf("InFlight = %d after Close", st.InFlight)
		}
	})
}

func TestCloseWithReadsInFlight(t *testing.T) {
	const size = 4 << 20
	path, data := testFile(t, size)
	eachBackend(t, iouring.Options{Entries: 8}, func(t *testing.T, r *iouring.Ring) {
		h, err := r.AddFile(openDirect(t, path))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		started := make(chan struct{}, 16)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				buf := iouring.AlignedBuffer(16 << 10)
				for i := 0; ; i++ {
					off := int64((g*13+i*7)%(size/(16<<10))) * (16 << 10)
					n, err := r.ReadAt(context.Background(), h, buf, off)
					if i == 0 {
						started <- struct{}{}
					}
					if errors.Is(err, iouring.ErrClosed) {
						return
					}
					if err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+int64(n)]) {
						t.Errorf("ReadAt during Close = %d, %v", n, err)
						return
					}
				}
			}(g)
		}
		for g := 0; g < 16; g++ {
			<-started
		}
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wg.Wait()
		if _, err := r.ReadAt(context.Background(), h, iouring.AlignedBuffer(4096), 0); !errors.Is(err, iouring.ErrClosed) {
			t.Errorf("ReadAt after Close = %v, want ErrClosed", err)
		}
		if err := r.ReadBatch(context.Background(), []iouring.Read{{File: h, Buf: make([]byte, 1)}}); !errors.Is(err, iouring.ErrClosed) {
			t.Errorf("ReadBatch after Close = %v, want ErrClosed", err)
		}
		if _, err := r.AddFile(openDirect(t, path)); !errors.Is(err, iouring.ErrClosed) {
			t.Errorf("AddFile after Close = %v, want ErrClosed", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestRemoveFile(t *testing.T) {
	pathA, dataA := testFile(t, 64<<10)
	pathB, dataB := testFile(t, 128<<10)
	eachBackend(t, iouring.Options{MaxFiles: 1}, func(t *testing.T, r *iouring.Ring) {
		a, err := r.AddFile(openDirect(t, pathA))
		if err != nil {
			t.Fatal(err)
		}
		buf := iouring.AlignedBuffer(4096)
		if _, err := r.ReadAt(context.Background(), a, buf, 4096); err != nil || !bytes.Equal(buf, dataA[4096:8192]) {
			t.Fatalf("ReadAt of A = %v", err)
		}
		// The table has one slot: a second file does not fit until A leaves.
		fB := openDirect(t, pathB)
		if _, err := r.AddFile(fB); err == nil {
			t.Fatal("AddFile beyond MaxFiles succeeded")
		}
		if err := r.RemoveFile(a); err != nil {
			t.Fatal(err)
		}
		if err := r.RemoveFile(a); !errors.Is(err, iouring.ErrUnknownFile) {
			t.Errorf("second RemoveFile = %v", err)
		}
		if _, err := r.ReadAt(context.Background(), a, buf, 0); !errors.Is(err, iouring.ErrUnknownFile) {
			t.Errorf("ReadAt of a removed file = %v, want ErrUnknownFile", err)
		}
		b, err := r.AddFile(fB)
		if err != nil {
			t.Fatal(err)
		}
		// B reuses A's slot; A's stale handle must not read B.
		if _, err := r.ReadAt(context.Background(), a, buf, 0); !errors.Is(err, iouring.ErrUnknownFile) {
			t.Errorf("stale handle after slot reuse = %v, want ErrUnknownFile", err)
		}
		if _, err := r.ReadAt(context.Background(), b, buf, 65536); err != nil || !bytes.Equal(buf, dataB[65536:65536+4096]) {
			t.Fatalf("ReadAt of B = %v", err)
		}
		if _, err := r.ReadAt(context.Background(), iouring.File{}, buf, 0); !errors.Is(err, iouring.ErrUnknownFile) {
			t.Errorf("ReadAt of the zero File = %v", err)
		}
		// A File of another Ring, in the same slot, is not this Ring's.
		other, err := iouring.Open(iouring.Options{MaxFiles: 1, ForcePread: true})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		oh, err := other.AddFile(fB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(context.Background(), oh, buf, 0); !errors.Is(err, iouring.ErrUnknownFile) {
			t.Errorf("ReadAt of another ring's File = %v, want ErrUnknownFile", err)
		}
		if st := r.Stats(); st.Files != 1 {
			t.Errorf("Stats.Files = %d, want 1", st.Files)
		}
	})
}

// TestRemoveFileDuringReads removes and re-adds files while other goroutines
// read them: a read returns its own file's bytes or ErrUnknownFile, never
// another file's.
func TestRemoveFileDuringReads(t *testing.T) {
	pathA, dataA := testFile(t, 256<<10)
	pathB, dataB := testFile(t, 256<<10+4096)
	eachBackend(t, iouring.Options{Entries: 16, MaxFiles: 2}, func(t *testing.T, r *iouring.Ring) {
		fA, fB := openDirect(t, pathA), openDirect(t, pathB)
		var mu sync.Mutex
		handles := map[string]iouring.File{}
		add := func(name string, f *os.File) {
			h, err := r.AddFile(f)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			handles[name] = h
			mu.Unlock()
		}
		add("a", fA)
		add("b", fB)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				buf := iouring.AlignedBuffer(4096)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name, data := "a", dataA
					if (g+i)%2 == 1 {
						name, data = "b", dataB
					}
					mu.Lock()
					h := handles[name]
					mu.Unlock()
					off := int64(i%64) * 4096
					_, err := r.ReadAt(context.Background(), h, buf, off)
					if errors.Is(err, iouring.ErrUnknownFile) {
						continue
					}
					if err != nil || !bytes.Equal(buf, data[off:off+4096]) {
						t.Errorf("read of %s at %d: %v (contents equal: %v)", name, off, err, bytes.Equal(buf, data[off:off+4096]))
						return
					}
				}
			}(g)
		}
		for i := 0; i < 50; i++ {
			name, f := "a", fA
			if i%2 == 1 {
				name, f = "b", fB
			}
			mu.Lock()
			h := handles[name]
			mu.Unlock()
			if err := r.RemoveFile(h); err != nil {
				t.Fatal(err)
			}
			add(name, f)
		}
		close(stop)
		wg.Wait()
	})
}

// TestMixedStress runs reads, batches, reads with tiny deadlines, fixed
// buffers and file removal at once, on a small ring, and checks every byte
// that any read returned against the file.
func TestMixedStress(t *testing.T) {
	const size = 2 << 20
	path, data := testFile(t, size)
	iters := 300
	if testing.Short() {
		iters = 50
	}
	eachBackend(t, iouring.Options{Entries: 4, FixedBuffers: 4, FixedBufferSize: 8192, MaxFiles: 4}, func(t *testing.T, r *iouring.Ring) {
		f := openDirect(t, path)
		h, err := r.AddFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check := func(what string, buf []byte, off int64, n int, err error) bool {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, iouring.ErrUnknownFile) {
				return true
			}
			if err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+int64(n)]) {
				t.Errorf("%s of %d at %d = %d, %v", what, len(buf), off, n, err)
				return false
			}
			return true
		}
		var wg sync.WaitGroup
		for g := 0; g < 12; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), 77))
				buf := iouring.AlignedBuffer(8192)
				for i := 0; i < iters; i++ {
					off := int64(rng.IntN(size/4096-2)) * 4096
					switch op := rng.IntN(10); {
					case op < 4:
						n, err := r.ReadAt(context.Background(), h, buf, off)
						if !check("ReadAt", buf, off, n, err) {
							return
						}
					case op < 6:
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(30))*time.Microsecond)
						n, err := r.ReadAt(ctx, h, buf, off)
						cancel()
						if !check("ReadAt with a deadline", buf, off, n, err) {
							return
						}
					case op < 8:
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(200))*time.Microsecond)
						reads := make([]iouring.Read, 1+rng.IntN(9))
						for k := range reads {
							reads[k] = iouring.Read{File: h, Buf: iouring.AlignedBuffer(4096), Off: int64(rng.IntN(size/4096)) * 4096}
						}
						r.ReadBatch(ctx, reads)
						cancel()
						for _, rd := range reads {
							if !check("batch read", rd.Buf, rd.Off, rd.N, rd.Err) {
								return
							}
						}
					case op < 9:
						fb, release, ok := r.FixedBuffer()
						if !ok {
							continue
						}
						n, err := r.ReadAt(context.Background(), h, fb, off)
						ok = check("fixed ReadAt", fb, off, n, err)
						release()
						if !ok {
							return
						}
					default:
						// A second handle on the same file, added and removed.
						h2, err := r.AddFile(f)
						if err != nil {
							continue // the table may be full
						}
						n, err := r.ReadAt(context.Background(), h2, buf[:4096], off)
						if !check("ReadAt of a second handle", buf[:4096], off, n, err) {
							return
						}
						if err := r.RemoveFile(h2); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}(g)
		}
		wg.Wait()
		t.Logf("stats %+v", r.Stats())
	})
}

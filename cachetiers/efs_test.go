package cachetiers

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

func newTestEFS(t *testing.T, dir string) *EFS {
	t.Helper()
	e, err := NewEFS(EFSOptions{Dir: dir})
	if err != nil {
		t.Fatalf("NewEFS(%s): %v", dir, err)
	}
	return e
}

func TestEFSConformance(t *testing.T) {
	testTierConformance(t, func(t *testing.T) Tier { return newTestEFS(t, t.TempDir()) })
}

// The same suite on the path taken where the file system has no hard links.
func TestEFSConformanceRenameFallback(t *testing.T) {
	testTierConformance(t, func(t *testing.T) Tier {
		e := newTestEFS(t, t.TempDir())
		e.dir.noLink.Store(true)
		return e
	})
}

func TestEFSZeroLengthRead(t *testing.T) {
	e := newTestEFS(t, t.TempDir())
	defer e.Close()
	testZeroLengthRead(t, e)
}

func TestEFSOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts EFSOptions
		want string
	}{
		{"no dir", EFSOptions{}, "Dir"},
		{"negative temp age", EFSOptions{Dir: t.TempDir(), TempMaxAge: -time.Second}, "TempMaxAge"},
		{"dir is a file", EFSOptions{Dir: file}, file},
	} {
		_, err := NewEFS(c.opts)
		if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewEFS: err = %v, want an incorrect error naming %s", c.name, err, c.want)
		}
	}
	// A missing directory is created.
	dir := filepath.Join(t.TempDir(), "a", "b")
	e := newTestEFS(t, dir)
	defer e.Close()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("NewEFS did not create %s: %v", dir, err)
	}
}

// The layout is documented on segmentDir; tools and other processes rely on it.
func TestEFSLayout(t *testing.T) {
	dir := t.TempDir()
	e := newTestEFS(t, dir)
	defer e.Close()
	id, _ := segment.ParseID("7f3a0000000000000000000000000001")
	mustPut(t, e, id, []byte("hello"))
	want := filepath.Join(dir, "7f", "7f3a0000000000000000000000000001.seg")
	if e.Path(id) != want {
		t.Fatalf("Path = %s, want %s", e.Path(id), want)
	}
	if b, err := os.ReadFile(want); err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile(%s) = %q, %v", want, b, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "7f"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("the fan-out directory holds %d entries (%v), want just the segment (no temporary file left)", len(entries), err)
	}
}

func TestEFSRestart(t *testing.T) {
	dir := t.TempDir()
	e := newTestEFS(t, dir)
	ids := make([]segment.ID, 20)
	total := int64(0)
	for i := range ids {
		ids[i] = segment.NewID()
		size := 100 + i*50
		total += int64(size)
		mustPut(t, e, ids[i], conformanceData(ids[i], size))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := newTestEFS(t, dir)
	defer e2.Close()
	for i, id := range ids {
		mustReadEqual(t, e2, id, conformanceData(id, 100+i*50))
	}
	<-e2.dir.scanDone
	if st := e2.Stats(); st.Entries != int64(len(ids)) || st.Bytes != total || st.Capacity != 0 || st.Backend != "dir" {
		t.Fatalf("Stats after reopening = %+v, want %d entries, %d bytes, capacity 0, backend dir", st, len(ids), total)
	}
	// This process's puts and removes move the counts.
	extra := segment.NewID()
	mustPut(t, e2, extra, make([]byte, 1000))
	mustPut(t, e2, extra, make([]byte, 1000)) // a no-op, not counted twice
	if err := e2.Remove(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
	if st := e2.Stats(); st.Entries != int64(len(ids)) || st.Bytes != total+1000-100 {
		t.Fatalf("Stats after a put and a remove = %+v, want %d entries, %d bytes", st, len(ids), total+900)
	}
}

// Two tiers on one directory stand for two processes (or two hosts on one EFS
// file system): they put the same segments at the same time and read each
// other's. Run under -race.
func TestEFSTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestEFS(t, dir), newTestEFS(t, dir)
	defer a.Close()
	defer b.Close()
	// Let the opening scans finish, so that the counts below are the tiers' own puts.
	<-a.dir.scanDone
	<-b.dir.scanDone
	ctx := context.Background()

	const ids = 32
	segs := make([]segment.ID, ids)
	datas := make([][]byte, ids)
	for i := range segs {
		segs[i] = segment.NewID()
		datas[i] = conformanceData(segs[i], 3000+i*1111)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4*ids)
	for _, tier := range []*EFS{a, b} {
		for w := range 2 {
			wg.Go(func() {
				for k := range ids {
					i := (k + w*ids/2) % ids
					if err := tier.Put(ctx, segs[i], datas[i]); err != nil {
						errc <- err
						return
					}
					// Read what the other "process" may be writing right now.
					j := (i + 1) % ids
					p := make([]byte, len(datas[j]))
					n, _, err := tier.ReadAt(ctx, segs[j], p, 0)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil || n != len(p) || !bytes.Equal(p, datas[j]) {
						errc <- errors.New("a reader saw a partial or wrong segment: " + errString(err))
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for i, id := range segs {
		mustReadEqual(t, a, id, datas[i])
		mustReadEqual(t, b, id, datas[i])
	}
	// Exactly one file per segment and no temporary files left behind.
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(files) != ids {
		t.Fatalf("%d files in the directory, want %d (one per segment): %v", len(files), ids, files)
	}
	// Each segment was published once, by one of the two; the other's link
	// found the name taken.
	if created := a.Stats().Entries + b.Stats().Entries; created != ids {
		t.Errorf("the two tiers published %d files for %d segments", created, ids)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// The tier returns what the file holds: damage in place is for the reader's
// checksums to find, but a copy shorter than the range asked for is corrupt.
func TestEFSDamagedCopy(t *testing.T) {
	e := newTestEFS(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	id := segment.NewID()
	data := conformanceData(id, 8192)
	mustPut(t, e, id, data)

	// Flip bytes in place: returned as they are.
	damaged := bytes.Clone(data)
	damaged[100] ^= 0xff
	if err := os.WriteFile(e.Path(id), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	mustReadEqual(t, e, id, damaged)

	// Truncate: a range inside what is left reads fine, with the new size;
	// one past it is an error wrapping segment.ErrCorrupt.
	if err := os.Truncate(e.Path(id), 5000); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1000)
	if n, size, err := e.ReadAt(ctx, id, p, 4000); err != nil || n != 1000 || size != 5000 || !bytes.Equal(p, damaged[4000:5000]) {
		t.Fatalf("ReadAt inside the truncated copy = %d, %d, %v", n, size, err)
	}
	_, _, err := e.ReadAt(ctx, id, make([]byte, 4096), 4096)
	if !errors.Is(err, segment.ErrCorrupt) || !errors.Is(err, anomaly.Fault) {
		t.Fatalf("ReadAt past the truncated end: err = %v, want segment.ErrCorrupt and anomaly.Fault", err)
	}
	// A suffix read of a truncated copy gets its (wrong) tail: the footer
	// checksum is what catches that, in the reader.
	if n, size, err := e.ReadAt(ctx, id, p, -1); err != nil || n != 1000 || size != 5000 || !bytes.Equal(p, damaged[4000:5000]) {
		t.Fatalf("suffix ReadAt of the truncated copy = %d, %d, %v", n, size, err)
	}
	// Put does not repair it (segments are immutable; Stratified removes a bad copy first) ...
	mustPut(t, e, id, data)
	if _, size, _ := e.ReadAt(ctx, id, p, 0); size != 5000 {
		t.Fatalf("Put over a damaged copy changed it: size %d", size)
	}
	// ... Remove and Put do.
	if err := e.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	mustPut(t, e, id, data)
	mustReadEqual(t, e, id, data)
}

func TestEFSSweepsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	e := newTestEFS(t, dir)
	id := segment.NewID()
	mustPut(t, e, id, []byte("x"))
	e.Close()

	sub := filepath.Dir(e.Path(id))
	stale := filepath.Join(sub, tempFilePrefix+id.String()+"-1-stale")
	fresh := filepath.Join(sub, tempFilePrefix+id.String()+"-2-fresh")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	e2 := newTestEFS(t, dir)
	defer e2.Close()
	<-e2.dir.scanDone
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a temporary file 2h old survived the sweep: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temporary file (a live writer's) was removed: %v", err)
	}
	if st := e2.Stats(); st.Entries != 1 || st.Bytes != 1 {
		t.Errorf("Stats = %+v, want 1 entry of 1 byte (temporary files are not segments)", st)
	}
}

func TestEFSCancelledContext(t *testing.T) {
	e := newTestEFS(t, t.TempDir())
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := segment.NewID()
	if err := e.Put(ctx, id, []byte("x")); !errors.Is(err, anomaly.Interrupted) {
		t.Errorf("Put: err = %v, want interrupted", err)
	}
	if _, _, err := e.ReadAt(ctx, id, make([]byte, 1), 0); !errors.Is(err, anomaly.Interrupted) {
		t.Errorf("ReadAt: err = %v, want interrupted", err)
	}
	if err := e.Remove(ctx, id); !errors.Is(err, anomaly.Interrupted) {
		t.Errorf("Remove: err = %v, want interrupted", err)
	}
}

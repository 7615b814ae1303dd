package cachetiers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

// stMapTier is a Tier in process memory, to the letter of tier.go's contract
// (the conformance suite checks it). hook, if set, runs at the start of every
// ReadAt and may block (honouring ctx) or fail it.
type stMapTier struct {
	name string
	mu   sync.Mutex
	segs map[segment.ID][]byte
	hook func(ctx context.Context, id segment.ID, n int, off int64, size int64) error
}

func newStMapTier(name string) *stMapTier {
	return &stMapTier{name: name, segs: make(map[segment.ID][]byte)}
}

func (m *stMapTier) Name() string { return m.name }

func (m *stMapTier) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	m.mu.Lock()
	data, ok := m.segs[id]
	hook := m.hook
	m.mu.Unlock()
	if !ok {
		return 0, 0, fmt.Errorf("%s read %s: %w", m.name, id.Short(), ErrNotFound)
	}
	size := int64(len(data))
	if hook != nil {
		if err := hook(ctx, id, len(p), off, size); err != nil {
			return 0, 0, err
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if off < 0 {
		n := int(min(int64(len(p)), size))
		return copy(p, data[size-int64(n):]), size, nil
	}
	if off+int64(len(p)) > size {
		return 0, size, fmt.Errorf("%s read %s: %d bytes at %d past the end %d: %w", m.name, id.Short(), len(p), off, size, segment.ErrCorrupt)
	}
	return copy(p, data[off:]), size, nil
}

func (m *stMapTier) Put(_ context.Context, id segment.ID, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.segs[id]; !ok {
		m.segs[id] = bytes.Clone(data)
	}
	return nil
}

func (m *stMapTier) Remove(_ context.Context, id segment.ID) error {
	if m.name == "store" {
		return anomaly.New(anomaly.Unsupported, "store remove", "no")
	}
	m.mu.Lock()
	delete(m.segs, id)
	m.mu.Unlock()
	return nil
}

func (m *stMapTier) has(id segment.ID) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.segs[id]
}

func (m *stMapTier) drop(id segment.ID) {
	m.mu.Lock()
	delete(m.segs, id)
	m.mu.Unlock()
}

func (m *stMapTier) setHook(h func(ctx context.Context, id segment.ID, n int, off int64, size int64) error) {
	m.mu.Lock()
	m.hook = h
	m.mu.Unlock()
}

func (m *stMapTier) Stats() TierStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b int64
	for _, d := range m.segs {
		b += int64(len(d))
	}
	return TierStats{Entries: int64(len(m.segs)), Bytes: b, Backend: "map"}
}

func (m *stMapTier) Close() error { return nil }

func TestStratifiedTestTierConformance(t *testing.T) {
	testTierConformance(t, func(t *testing.T) Tier { return newStMapTier("ssd") })
}

// stSeg is a test segment with what it should decode to.
type stSeg struct {
	id         segment.ID
	data       []byte
	ix         *segment.Index
	keys, vals [][]byte
}

func stMakeSegment(t testing.TB, records int, codec segment.Codec, seed uint64) stSeg {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	s := stSeg{id: segment.NewID()}
	w, err := segment.NewWriter(nil, s.id, segment.WriterOptions{Codec: codec, BlockSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := range records {
		k := fmt.Appendf(nil, "key-%06d", 2*i+1) // odd: even keys are absent
		v := make([]byte, 20+r.IntN(200))
		for j := range v {
			v[j] = byte('a' + r.IntN(4)) // compressible
		}
		if err := w.Add(k, v); err != nil {
			t.Fatal(err)
		}
		s.keys, s.vals = append(s.keys, k), append(s.vals, v)
	}
	if s.data, err = w.Finish(); err != nil {
		t.Fatal(err)
	}
	if s.ix, err = segment.Verify(s.id, s.data); err != nil {
		t.Fatal(err)
	}
	if len(s.ix.Blocks) < 3 {
		t.Fatalf("test segment has %d blocks, want several", len(s.ix.Blocks))
	}
	return s
}

// block returns what block i must decode to.
func (s stSeg) block(t testing.TB, i int) []byte {
	t.Helper()
	off, n := s.ix.BlockRange(i)
	b, err := segment.DecodeBlock(s.ix, i, s.data[off:off+int64(n)], nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type stEnv struct {
	mem                *Memory
	ssd, efs, store    *FaultyTier
	ssdM, efsM, storeM *stMapTier
	s                  *Stratified
}

// stNewEnv builds memory > ssd > efs > store over map tiers wrapped in
// FaultyTiers. opts.Memory and opts.Tiers are filled in.
func stNewEnv(t *testing.T, opts StratifiedOptions) *stEnv {
	t.Helper()
	e := &stEnv{ssdM: newStMapTier("ssd"), efsM: newStMapTier("efs"), storeM: newStMapTier("store")}
	e.ssd, e.efs, e.store = NewFaultyTier(e.ssdM), NewFaultyTier(e.efsM), NewFaultyTier(e.storeM)
	e.mem = newTestMemory(t, 64<<20)
	opts.Memory = e.mem
	opts.Tiers = []Tier{e.ssd, e.efs, e.store}
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	e.s = newTestStratified(t, opts)
	return e
}

func newTestStratified(t *testing.T, opts StratifiedOptions) *Stratified {
	t.Helper()
	s, err := NewStratified(opts)
	if err != nil {
		t.Fatalf("NewStratified: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitFills(t *testing.T, s *Stratified) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitFills(ctx); err != nil {
		t.Fatalf("WaitFills: %v", err)
	}
}

// readAll reads seg's index and every block through s and checks the bytes.
func readAll(t *testing.T, s *Stratified, seg stSeg) {
	t.Helper()
	ctx := context.Background()
	ix, err := s.Index(ctx, seg.id)
	if err != nil {
		t.Fatalf("Index(%s): %v", seg.id.Short(), err)
	}
	if len(ix.Blocks) != len(seg.ix.Blocks) || ix.Size != seg.ix.Size {
		t.Fatalf("Index(%s): %d blocks, %d bytes; want %d, %d", seg.id.Short(), len(ix.Blocks), ix.Size, len(seg.ix.Blocks), seg.ix.Size)
	}
	for i := range seg.ix.Blocks {
		b, err := s.Block(ctx, seg.id, i)
		if err != nil {
			t.Fatalf("Block(%s, %d): %v", seg.id.Short(), i, err)
		}
		if !bytes.Equal(b, seg.block(t, i)) {
			t.Fatalf("Block(%s, %d): wrong bytes", seg.id.Short(), i)
		}
	}
}

func tierM(t *testing.T, s *Stratified, name string) TierMetrics {
	t.Helper()
	m, ok := s.Stats().Tier(name)
	if !ok {
		t.Fatalf("no metrics for tier %q", name)
	}
	return m
}

func TestStratifiedReadThroughAndPromotion(t *testing.T) {
	e := stNewEnv(t, StratifiedOptions{})
	seg := stMakeSegment(t, 300, segment.CodecLZ4, 1)
	nb := int64(len(seg.ix.Blocks))
	e.storeM.Put(context.Background(), seg.id, seg.data)

	// Cold: the index comes from the store, and the segment is promoted
	// whole into ssd and efs.
	if _, err := e.s.Index(context.Background(), seg.id); err != nil {
		t.Fatal(err)
	}
	waitFills(t, e.s)
	for _, m := range []*stMapTier{e.ssdM, e.efsM} {
		if !bytes.Equal(m.has(seg.id), seg.data) {
			t.Fatalf("%s was not filled with the segment", m.name)
		}
	}
	if m := tierM(t, e.s, "ssd"); m.Misses != 1 || m.Fills != 1 || m.FillBytes != int64(len(seg.data)) {
		t.Fatalf("ssd metrics %+v: want 1 miss, 1 fill of %d bytes", m, len(seg.data))
	}
	if m := tierM(t, e.s, "store"); m.Hits != 1 {
		t.Fatalf("store hits %d, want 1", m.Hits)
	}

	// The blocks now come from ssd; nothing deeper is read.
	storeReads, efsReads := e.store.Counts().ReadAts, e.efs.Counts().ReadAts
	readAll(t, e.s, seg)
	if m := tierM(t, e.s, "ssd"); m.Hits != nb {
		t.Fatalf("ssd hits %d, want %d (every block)", m.Hits, nb)
	}
	if e.store.Counts().ReadAts != storeReads || e.efs.Counts().ReadAts != efsReads {
		t.Fatalf("deeper tiers were read though ssd held the segment")
	}

	// Warm: everything from memory.
	ssdReads := e.ssd.Counts().ReadAts
	readAll(t, e.s, seg)
	if e.ssd.Counts().ReadAts != ssdReads {
		t.Fatalf("ssd read %d times on a warm read", e.ssd.Counts().ReadAts-ssdReads)
	}
	if m := tierM(t, e.s, "memory"); m.Hits < nb+1 || m.Latency.Count > m.Hits {
		t.Fatalf("memory metrics %+v: want at least %d hits, latencies sampled from them", m, nb+1)
	}

	// Evict memory and lose the ssd copy: served from efs, ssd refilled from efs.
	e.mem.Remove(seg.id)
	e.ssdM.drop(seg.id)
	readAll(t, e.s, seg)
	waitFills(t, e.s)
	if !bytes.Equal(e.ssdM.has(seg.id), seg.data) {
		t.Fatal("ssd was not refilled")
	}
	if e.store.Counts().ReadAts != storeReads {
		t.Fatal("the store was read though efs held the segment")
	}
	if m := tierM(t, e.s, "efs"); m.Hits == 0 || m.Latency.Count == 0 || m.Latency.P50 <= 0 {
		t.Fatalf("efs metrics %+v: want hits and latencies", m)
	}

	// After evicting memory again, the shallowest refilled tier serves.
	e.mem.Remove(seg.id)
	efsReads = e.efs.Counts().ReadAts
	readAll(t, e.s, seg)
	if e.efs.Counts().ReadAts != efsReads {
		t.Fatal("efs was read though the refilled ssd held the segment")
	}

	st := e.s.Stats()
	var names []string
	for _, tm := range st.Tiers {
		names = append(names, tm.Name)
	}
	if got := strings.Join(names, ","); got != "memory,ssd,efs,store" {
		t.Fatalf("Stats tiers %s", got)
	}
	if st.Tiers[0].Memory == nil || st.Tiers[1].Tier == nil || st.Tiers[1].Tier.Backend != "map" {
		t.Fatalf("Stats lack the tiers' own stats: %+v", st.Tiers[:2])
	}
	t.Logf("latency p50/p99/p999: memory %v/%v/%v, ssd %v/%v/%v",
		st.Tiers[0].Latency.P50, st.Tiers[0].Latency.P99, st.Tiers[0].Latency.P999,
		st.Tiers[1].Latency.P50, st.Tiers[1].Latency.P99, st.Tiers[1].Latency.P999)
}

func TestStratifiedWithoutMemory(t *testing.T) {
	store := NewFaultyTier(newStMapTier("store"))
	s := newTestStratified(t, StratifiedOptions{Tiers: []Tier{nil, (*EFS)(nil), store}})
	seg := stMakeSegment(t, 100, segment.CodecNone, 2)
	if err := s.Put(context.Background(), seg.id, seg.data); err != nil {
		t.Fatal(err)
	}
	readAll(t, s, seg)
	readAll(t, s, seg)
	// Without memory nothing is kept: each Block reads the index again.
	want := 2 * (1 + 2*int64(len(seg.ix.Blocks)))
	if got := store.Counts().ReadAts; got != want {
		t.Fatalf("store read %d times, want %d (no memory tier)", got, want)
	}
	if _, ok := s.Stats().Tier("memory"); ok {
		t.Fatal("memory metrics without a memory tier")
	}
}

// TestStratifiedHealsCorruptCopy puts a bad copy at rest in the ssd or the
// efs position: it must be detected, counted, removed, refilled, and then
// served with the right bytes.
func TestStratifiedHealsCorruptCopy(t *testing.T) {
	for _, pos := range []string{"ssd", "efs"} {
		t.Run(pos, func(t *testing.T) {
			e := stNewEnv(t, StratifiedOptions{WriteThrough: true})
			seg := stMakeSegment(t, 300, segment.CodecZstd, 3)
			if err := e.s.Put(context.Background(), seg.id, seg.data); err != nil {
				t.Fatal(err)
			}
			bad := map[string]*FaultyTier{"ssd": e.ssd, "efs": e.efs}[pos]
			if pos == "efs" {
				e.ssd.Inject(FaultNotFound, -1) // so that reads reach efs
			}
			e.mem.Remove(seg.id)
			bad.CorruptCopy(seg.id)

			readAll(t, e.s, seg)
			waitFills(t, e.s)
			m := tierM(t, e.s, pos)
			if m.Errors != 1 || m.Removes != 1 {
				t.Fatalf("%s: errors %d, removes %d; want 1, 1 (detected once, dropped once)", pos, m.Errors, m.Removes)
			}
			injected := bad.Counts().Injected
			if injected != 1 {
				t.Fatalf("%s: %d reads saw the bad copy, want 1", pos, injected)
			}

			// Healed: served from pos with the right bytes, nothing injected.
			e.mem.Remove(seg.id)
			before := tierM(t, e.s, pos).Hits
			storeReads := e.store.Counts().ReadAts
			readAll(t, e.s, seg)
			if got := tierM(t, e.s, pos).Hits - before; got != 1+int64(len(seg.ix.Blocks)) {
				t.Fatalf("%s served %d reads after healing, want %d", pos, got, 1+len(seg.ix.Blocks))
			}
			if bad.Counts().Injected != injected || e.store.Counts().ReadAts != storeReads {
				t.Fatalf("%s: still bad after healing, or the store was read", pos)
			}
		})
	}
}

// TestStratifiedHealsCorruptFileOnEFS damages a real file of the EFS tier
// (a directory here) in place, and expects the store's copy to replace it.
func TestStratifiedHealsCorruptFileOnEFS(t *testing.T) {
	efs, err := NewEFS(EFSOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { efs.Close() })
	store, err := NewDirStore(DirStoreOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mem := newTestMemory(t, 64<<20)
	s := newTestStratified(t, StratifiedOptions{Memory: mem, Tiers: []Tier{efs, store}, WriteThrough: true})
	seg := stMakeSegment(t, 300, segment.CodecLZ4, 4)
	ctx := context.Background()
	if err := s.Put(ctx, seg.id, seg.data); err != nil {
		t.Fatal(err)
	}

	// Flip one byte inside block 1 of the efs file.
	path := efs.Path(seg.id)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := seg.ix.Blocks[1].Offset + 10
	if _, err := f.WriteAt([]byte{seg.data[at] ^ 0xff}, at); err != nil {
		t.Fatal(err)
	}
	f.Close()

	mem.Remove(seg.id)
	readAll(t, s, seg)
	waitFills(t, s)
	if m := tierM(t, s, "efs"); m.Errors != 1 || m.Removes != 1 || m.Fills != 2 {
		t.Fatalf("efs metrics %+v: want 1 error, 1 remove, 2 fills (write-through, heal)", m)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, seg.data) {
		t.Fatalf("efs file not healed (err %v)", err)
	}
	mem.Remove(seg.id)
	before := tierM(t, s, "store").Hits
	readAll(t, s, seg)
	if tierM(t, s, "store").Hits != before {
		t.Fatal("store read after efs was healed")
	}
}

// TestStratifiedCacheTierFaults injects one fault into an ssd read of a
// block: the read is served from efs with the right bytes.
func TestStratifiedCacheTierFaults(t *testing.T) {
	for _, tc := range []struct {
		fault         Fault
		errs, removes int64
	}{
		{FaultIOError, 1, 1},
		{FaultShortRead, 1, 1},
		{FaultCorrupt, 1, 1},
		{FaultNotFound, 0, 0},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			e := stNewEnv(t, StratifiedOptions{WriteThrough: true})
			seg := stMakeSegment(t, 200, segment.CodecLZ4, 5)
			ctx := context.Background()
			if err := e.s.Put(ctx, seg.id, seg.data); err != nil {
				t.Fatal(err)
			}
			e.ssd.Inject(tc.fault, 1)
			b, err := e.s.Block(ctx, seg.id, 2)
			if err != nil || !bytes.Equal(b, seg.block(t, 2)) {
				t.Fatalf("Block: err %v or wrong bytes", err)
			}
			waitFills(t, e.s)
			m := tierM(t, e.s, "ssd")
			if m.Errors != tc.errs || m.Removes != tc.removes || tierM(t, e.s, "efs").Hits != 1 {
				t.Fatalf("ssd errors %d removes %d, efs hits %d; want %d, %d, 1", m.Errors, m.Removes, tierM(t, e.s, "efs").Hits, tc.errs, tc.removes)
			}
			if !bytes.Equal(e.ssdM.has(seg.id), seg.data) {
				t.Fatal("ssd lost its copy")
			}
		})
	}
}

func TestStratifiedStoreFailure(t *testing.T) {
	ctx := context.Background()
	t.Run("io-error", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{MaxAttempts: 3})
		seg := stMakeSegment(t, 100, segment.CodecNone, 6)
		e.storeM.Put(ctx, seg.id, seg.data)
		e.store.Inject(FaultIOError, -1)
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := e.s.Block(dctx, seg.id, 0)
		if !errors.Is(err, anomaly.Unavailable) || !errors.Is(err, ErrInjected) || !strings.Contains(err.Error(), seg.id.String()) {
			t.Fatalf("err = %v; want Unavailable naming %s, wrapping the I/O error", err, seg.id)
		}
		if anomaly.CategoryOf(err) != anomaly.Unavailable {
			t.Fatalf("category %v", anomaly.CategoryOf(err))
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("took %v", took)
		}
		if n := e.store.Counts().ReadAts; n != 3 {
			t.Fatalf("store read %d times, want 3 (MaxAttempts)", n)
		}
		if m := tierM(t, e.s, "store"); m.Errors != 3 || m.Retries != 2 {
			t.Fatalf("store errors %d retries %d, want 3, 2", m.Errors, m.Retries)
		}
		// Recovers when the store does.
		e.store.Inject(FaultNone, 0)
		readAll(t, e.s, seg)
	})
	t.Run("corrupt", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{MaxAttempts: 2})
		seg := stMakeSegment(t, 100, segment.CodecNone, 7)
		e.storeM.Put(ctx, seg.id, seg.data)
		e.store.Inject(FaultCorrupt, -1)
		_, err := e.s.Index(ctx, seg.id)
		if !errors.Is(err, anomaly.Unavailable) || !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("err = %v; want Unavailable wrapping ErrCorrupt", err)
		}
		if _, _, err := e.storeM.ReadAt(ctx, seg.id, make([]byte, 1), 0); err != nil {
			t.Fatalf("the store of record lost its copy: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{})
		_, err := e.s.Block(ctx, segment.NewID(), 0)
		if !errors.Is(err, anomaly.NotFound) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v; want NotFound", err)
		}
		if n := e.store.Counts().ReadAts; n != 1 {
			t.Fatalf("store read %d times for a missing segment, want 1", n)
		}
	})
	t.Run("deadline-shorter-than-backoff", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{MaxAttempts: 5, Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
		seg := stMakeSegment(t, 100, segment.CodecNone, 8)
		e.storeM.Put(ctx, seg.id, seg.data)
		e.store.Inject(FaultIOError, -1)
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.s.Index(dctx, seg.id)
		if !errors.Is(err, anomaly.Unavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want Unavailable wrapping DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("returned after %v, deadline 100ms", took)
		}
	})
}

func TestStratifiedStall(t *testing.T) {
	ctx := context.Background()
	t.Run("store-deadline", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{})
		seg := stMakeSegment(t, 100, segment.CodecNone, 9)
		e.storeM.Put(ctx, seg.id, seg.data)
		e.store.Inject(FaultStall, -1)
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.s.Block(dctx, seg.id, 1)
		if !errors.Is(err, anomaly.Unavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), seg.id.String()) {
			t.Fatalf("err = %v; want Unavailable naming the segment", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("returned after %v, deadline 100ms", took)
		}
		// The abandoned fetch does not stick: a new read starts afresh.
		e.store.Inject(FaultNone, 0)
		readAll(t, e.s, seg)
	})
	t.Run("store-cancel", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{})
		seg := stMakeSegment(t, 100, segment.CodecNone, 10)
		e.storeM.Put(ctx, seg.id, seg.data)
		entered := make(chan struct{})
		var once sync.Once
		e.storeM.setHook(func(ctx context.Context, _ segment.ID, _ int, _, _ int64) error {
			once.Do(func() { close(entered) })
			<-ctx.Done()
			return ctx.Err()
		})
		cctx, cancel := context.WithCancel(ctx)
		go func() { <-entered; cancel() }()
		_, err := e.s.Index(cctx, seg.id)
		if !errors.Is(err, anomaly.Interrupted) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want Interrupted", err)
		}
	})
	t.Run("ssd-attempt-timeout", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{AttemptTimeout: 50 * time.Millisecond, WriteThrough: true})
		seg := stMakeSegment(t, 100, segment.CodecNone, 11)
		if err := e.s.Put(ctx, seg.id, seg.data); err != nil {
			t.Fatal(err)
		}
		e.mem.Remove(seg.id)
		e.ssd.Inject(FaultStall, 1)
		readAll(t, e.s, seg)
		if m := tierM(t, e.s, "ssd"); m.Errors != 1 || m.Removes != 0 {
			t.Fatalf("ssd errors %d removes %d; want 1, 0 (a stall keeps the copy)", m.Errors, m.Removes)
		}
	})
}

// TestStratifiedCoalescesMisses reads overlapping keys from many goroutines
// on a cold cache: the store must see exactly one fetch per key.
func TestStratifiedCoalescesMisses(t *testing.T) {
	storeM := newStMapTier("store")
	// Yield inside every store read, as a real one would block, so that
	// readers pile up on the same keys.
	storeM.setHook(func(context.Context, segment.ID, int, int64, int64) error {
		for range 10 {
			runtime.Gosched()
		}
		return nil
	})
	store := NewFaultyTier(storeM)
	mem := newTestMemory(t, 256<<20)
	s := newTestStratified(t, StratifiedOptions{Memory: mem, Tiers: []Tier{store}})
	var segs []stSeg
	for i := range 6 {
		seg := stMakeSegment(t, 200, segment.Codec(i%3), uint64(100+i))
		store.Inner().Put(context.Background(), seg.id, seg.data)
		segs = append(segs, seg)
	}
	type key struct{ seg, block int }
	var keys []key
	for si, seg := range segs {
		keys = append(keys, key{si, -1})
		for b := range seg.ix.Blocks {
			keys = append(keys, key{si, b})
		}
	}
	want := make([][][]byte, len(segs))
	for si, seg := range segs {
		for b := range seg.ix.Blocks {
			want[si] = append(want[si], seg.block(t, b))
		}
	}

	const readers = 16
	start := make(chan struct{})
	errc := make(chan error, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			order := append([]key(nil), keys...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			<-start
			for _, k := range order {
				seg := segs[k.seg]
				if k.block < 0 {
					if _, err := s.Index(context.Background(), seg.id); err != nil {
						errc <- err
						return
					}
					continue
				}
				b, err := s.Block(context.Background(), seg.id, k.block)
				if err != nil {
					errc <- err
					return
				}
				if !bytes.Equal(b, want[k.seg][k.block]) {
					errc <- fmt.Errorf("segment %d block %d: wrong bytes", k.seg, k.block)
					return
				}
				runtime.Gosched()
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for si, seg := range segs {
		if got, want := store.ReadAts(seg.id), int64(1+len(seg.ix.Blocks)); got != want {
			t.Errorf("segment %d: store read %d times, want %d (one per key)", si, got, want)
		}
	}
	st := s.Stats()
	if st.Flights != 0 || st.FillsPending != 0 {
		t.Fatalf("after the run: %d flights, %d fills pending", st.Flights, st.FillsPending)
	}
	t.Logf("%d keys, %d readers: %d reads joined a fetch in progress", len(keys), readers, st.Coalesced)
}

// TestStratifiedWaiterLeaves: the caller that started a fetch leaves mid-fetch
// and returns at once; the one that joined it fetches afresh and gets the
// right bytes. (The fetch runs on the leader's goroutine, so the leader's
// abandoned read is repeated once: two block reads in all.)
func TestStratifiedWaiterLeaves(t *testing.T) {
	e := stNewEnv(t, StratifiedOptions{})
	seg := stMakeSegment(t, 100, segment.CodecNone, 12)
	ctx := context.Background()
	e.storeM.Put(ctx, seg.id, seg.data)
	if _, err := e.s.Index(ctx, seg.id); err != nil {
		t.Fatal(err)
	}
	waitFills(t, e.s)
	e.ssdM.drop(seg.id)
	e.efsM.drop(seg.id)

	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	var blockReads atomic.Int64
	e.storeM.setHook(func(ctx context.Context, _ segment.ID, n int, off, size int64) error {
		if off < 0 || int64(n) == size {
			return nil // index and fill reads
		}
		blockReads.Add(1)
		entered <- struct{}{}
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	leader, cancel := context.WithCancel(ctx)
	leaderErr := make(chan error, 1)
	go func() {
		_, err := e.s.Block(leader, seg.id, 0)
		leaderErr <- err
	}()
	<-entered
	followerDone := make(chan error, 1)
	go func() {
		b, err := e.s.Block(ctx, seg.id, 0)
		if err == nil && !bytes.Equal(b, seg.block(t, 0)) {
			err = errors.New("wrong bytes")
		}
		followerDone <- err
	}()
	// Wait (on the condition, not a clock) until the follower has joined.
	k := memKey{seg.id, 0}
	for {
		e.s.flightsMu.Lock()
		f := e.s.flights[k]
		joined := f != nil && f.waiters == 1
		e.s.flightsMu.Unlock()
		if joined {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-leaderErr; !errors.Is(err, anomaly.Interrupted) {
		t.Fatalf("leader: err %v, want Interrupted", err)
	}
	close(gate)
	if err := <-followerDone; err != nil {
		t.Fatalf("follower: %v", err)
	}
	if n := blockReads.Load(); n != 2 {
		t.Fatalf("store read block 0 %d times, want 2 (the leader's abandoned read, the follower's own)", n)
	}
}

func TestStratifiedFillQueueBounded(t *testing.T) {
	e := stNewEnv(t, StratifiedOptions{FillQueue: 1, FillConcurrency: 1})
	ctx := context.Background()
	var segs []stSeg
	for i := range 3 {
		seg := stMakeSegment(t, 100, segment.CodecNone, uint64(20+i))
		e.storeM.Put(ctx, seg.id, seg.data)
		segs = append(segs, seg)
	}
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	e.storeM.setHook(func(ctx context.Context, _ segment.ID, n int, off, size int64) error {
		if off != 0 || int64(n) != size { // only whole-segment (fill) reads wait
			return nil
		}
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	read := func(seg stSeg) {
		if _, err := e.s.Index(ctx, seg.id); err != nil {
			t.Fatal(err)
		}
	}
	read(segs[0])
	<-entered     // the only filler is busy with segment 0
	read(segs[1]) // queued
	read(segs[2]) // the queue is full: dropped
	read(segs[1]) // coalesces with the queued fill
	if m := tierM(t, e.s, "ssd"); m.FillDrops != 1 || tierM(t, e.s, "efs").FillDrops != 1 {
		t.Fatalf("fill drops ssd %d efs %d, want 1, 1", m.FillDrops, tierM(t, e.s, "efs").FillDrops)
	}
	close(gate)
	waitFills(t, e.s)
	for i, want := range []bool{true, true, false} {
		if got := e.ssdM.has(segs[i].id) != nil; got != want {
			t.Fatalf("segment %d in ssd: %v, want %v", i, got, want)
		}
	}
	if m := tierM(t, e.s, "ssd"); m.Fills != 2 {
		t.Fatalf("ssd fills %d, want 2", m.Fills)
	}
}

func TestStratifiedPut(t *testing.T) {
	ctx := context.Background()
	t.Run("refuses-corrupt", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{WriteThrough: true})
		seg := stMakeSegment(t, 100, segment.CodecLZ4, 30)
		bad := bytes.Clone(seg.data)
		bad[seg.ix.Blocks[1].Offset+3] ^= 1
		err := e.s.Put(ctx, seg.id, bad)
		if !errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), seg.id.String()) {
			t.Fatalf("Put(corrupt) = %v; want ErrCorrupt naming the segment", err)
		}
		for _, f := range []*FaultyTier{e.ssd, e.efs, e.store} {
			if n := f.Counts().Puts; n != 0 {
				t.Fatalf("%s got %d Puts of a corrupt segment", f.Name(), n)
			}
		}
		if _, ok := e.mem.Index(seg.id); ok {
			t.Fatal("memory holds the corrupt segment's index")
		}
	})
	t.Run("write-through", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{WriteThrough: true})
		seg := stMakeSegment(t, 100, segment.CodecLZ4, 31)
		if err := e.s.Put(ctx, seg.id, seg.data); err != nil {
			t.Fatal(err)
		}
		for _, m := range []*stMapTier{e.ssdM, e.efsM, e.storeM} {
			if !bytes.Equal(m.has(seg.id), seg.data) {
				t.Fatalf("%s does not hold the segment", m.name)
			}
		}
		if _, ok := e.mem.Index(seg.id); !ok {
			t.Fatal("memory lacks the index after a write-through Put")
		}
	})
	t.Run("store-only", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{})
		seg := stMakeSegment(t, 100, segment.CodecLZ4, 32)
		if err := e.s.Put(ctx, seg.id, seg.data); err != nil {
			t.Fatal(err)
		}
		if e.ssdM.has(seg.id) != nil || e.efsM.has(seg.id) != nil || e.storeM.has(seg.id) == nil {
			t.Fatal("without WriteThrough only the store should hold the segment")
		}
	})
	t.Run("store-fails", func(t *testing.T) {
		e := stNewEnv(t, StratifiedOptions{MaxAttempts: 3, WriteThrough: true})
		seg := stMakeSegment(t, 100, segment.CodecLZ4, 33)
		e.store.FailPuts(-1)
		err := e.s.Put(ctx, seg.id, seg.data)
		if !errors.Is(err, anomaly.Unavailable) || !errors.Is(err, ErrInjected) {
			t.Fatalf("Put = %v; want Unavailable", err)
		}
		if n := e.store.Counts().Puts; n != 3 {
			t.Fatalf("store Puts %d, want 3", n)
		}
		if e.ssdM.has(seg.id) != nil {
			t.Fatal("ssd written although the store of record refused")
		}
	})
}

func TestStratifiedGet(t *testing.T) {
	e := stNewEnv(t, StratifiedOptions{})
	seg := stMakeSegment(t, 300, segment.CodecZstd, 40)
	ctx := context.Background()
	if err := e.s.Put(ctx, seg.id, seg.data); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(seg.keys); i += 7 {
		v, ok, err := e.s.Get(ctx, seg.id, seg.keys[i])
		if err != nil || !ok || !bytes.Equal(v, seg.vals[i]) {
			t.Fatalf("Get(%s) = %q, %v, %v", seg.keys[i], v, ok, err)
		}
	}
	for _, k := range []string{"key-000000", "key-000100", "a", "zzz", fmt.Sprintf("key-%06d", 2*len(seg.keys))} {
		if v, ok, err := e.s.Get(ctx, seg.id, []byte(k)); err != nil || ok {
			t.Fatalf("Get(%s) = %q, %v, %v; want absent", k, v, ok, err)
		}
	}
}

func TestStratifiedBadRequests(t *testing.T) {
	e := stNewEnv(t, StratifiedOptions{})
	seg := stMakeSegment(t, 100, segment.CodecNone, 50)
	ctx := context.Background()
	e.storeM.Put(ctx, seg.id, seg.data)
	for _, i := range []int{-1, len(seg.ix.Blocks)} {
		if _, err := e.s.Block(ctx, seg.id, i); !errors.Is(err, anomaly.Incorrect) {
			t.Fatalf("Block(%d) = %v; want Incorrect", i, err)
		}
	}
}

func TestStratifiedOptions(t *testing.T) {
	store := newStMapTier("store")
	var many []Tier
	for range maxTiers + 1 {
		many = append(many, store)
	}
	for _, tc := range []struct {
		name string
		opts StratifiedOptions
	}{
		{"no tiers", StratifiedOptions{}},
		{"only nil tiers", StratifiedOptions{Tiers: []Tier{nil, (*EFS)(nil)}}},
		{"too many tiers", StratifiedOptions{Tiers: many}},
		{"negative attempts", StratifiedOptions{Tiers: []Tier{store}, MaxAttempts: -1}},
		{"backoff above max", StratifiedOptions{Tiers: []Tier{store}, Backoff: time.Second, MaxBackoff: time.Millisecond}},
		{"negative fill queue", StratifiedOptions{Tiers: []Tier{store}, FillQueue: -1}},
		{"tiny max segment", StratifiedOptions{Tiers: []Tier{store}, MaxSegmentBytes: 10}},
	} {
		if _, err := NewStratified(tc.opts); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("%s: err %v, want Incorrect", tc.name, err)
		}
	}
}

func TestStratifiedClose(t *testing.T) {
	e := stNewEnv(t, StratifiedOptions{})
	seg := stMakeSegment(t, 100, segment.CodecNone, 60)
	ctx := context.Background()
	e.storeM.Put(ctx, seg.id, seg.data)
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	readAll(t, e.s, seg) // reads work; promotion into tiers is dropped
	waitFills(t, e.s)
	if m := tierM(t, e.s, "ssd"); m.FillDrops == 0 || m.Fills != 0 {
		t.Fatalf("after Close: ssd fills %d drops %d; want 0 and some", m.Fills, m.FillDrops)
	}
	if err := e.s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// BenchmarkStratifiedMemoryHit measures a block read served by memory against
// the raw otter lookup it is built on (the reference, in the same run).
func BenchmarkStratifiedMemoryHit(b *testing.B) {
	seg := stMakeSegment(b, 300, segment.CodecLZ4, 70)
	mem, err := NewMemory(MemoryOptions{CapacityBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	store := newStMapTier("store")
	store.Put(context.Background(), seg.id, seg.data)
	s, err := NewStratified(StratifiedOptions{Memory: mem, Tiers: []Tier{store}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	nb := len(seg.ix.Blocks)
	for i := range nb {
		if _, err := s.Block(ctx, seg.id, i); err != nil {
			b.Fatal(err)
		}
	}
	// The reference: a raw otter cache (the library the tier was first built
	// on) holding the same decoded blocks.
	ref := newOtterRef(b, 64<<20)
	for i := range nb {
		v, _ := mem.peek(memKey{seg.id, i})
		ref.Set(memKey{seg.id, i}, v)
	}
	b.Run("ref=otter-GetIfPresent", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := ref.GetIfPresent(memKey{seg.id, i % nb}); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("Memory.Block", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := mem.Block(seg.id, i%nb); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("Stratified.Block", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Block(ctx, seg.id, i%nb); err != nil {
				b.Fatal(err)
			}
		}
		lat := tierMetricsOf(s, "memory").Latency
		b.ReportMetric(float64(lat.P99.Nanoseconds()), "p99-ns")
	})
}

func tierMetricsOf(s *Stratified, name string) TierMetrics {
	m, _ := s.Stats().Tier(name)
	return m
}

// BenchmarkStratifiedColdBlock measures a block read that misses memory and
// is served by an in-process store: the read path's own overhead (footer
// parse cached, one ReadAt, checksum, decode, promotion into memory).
func BenchmarkStratifiedColdBlock(b *testing.B) {
	seg := stMakeSegment(b, 300, segment.CodecLZ4, 71)
	mem, err := NewMemory(MemoryOptions{CapacityBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	store := newStMapTier("store")
	store.Put(context.Background(), seg.id, seg.data)
	s, err := NewStratified(StratifiedOptions{Memory: mem, Tiers: []Tier{store}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	nb := len(seg.ix.Blocks)
	b.SetBytes(int64(seg.ix.Blocks[0].RawLength))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		mem.RemoveBlock(seg.id, i%nb)
		if _, err := s.Block(ctx, seg.id, i%nb); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStratifiedSamplesMemoryHitLatency(t *testing.T) {
	e := stNewEnv(t, StratifiedOptions{})
	seg := stMakeSegment(t, 100, segment.CodecNone, 80)
	ctx := context.Background()
	e.storeM.Put(ctx, seg.id, seg.data)
	if _, err := e.s.Block(ctx, seg.id, 0); err != nil {
		t.Fatal(err)
	}
	var timed int64 // the block may come from the store, or from a tier its index read filled
	for _, name := range []string{"ssd", "efs", "store"} {
		timed += tierM(t, e.s, name).Latency.Count
	}
	if timed != 1 {
		t.Fatalf("%d latencies recorded below memory, want 1 (every read past memory is timed)", timed)
	}
	const reads = 16000
	for range reads {
		if _, err := e.s.Block(ctx, seg.id, 0); err != nil {
			t.Fatal(err)
		}
	}
	m := tierM(t, e.s, "memory")
	// Binomial(16000, 1/8): mean 2000, sd 42; 10 sd either way.
	if m.Latency.Count < 1580 || m.Latency.Count > 2420 {
		t.Fatalf("memory latency count %d of %d hits, want about %d", m.Latency.Count, m.Hits, reads/MemoryHitSampleEvery)
	}
}

// ExampleStratified reads a segment through memory and a directory store.
func ExampleStratified() {
	dir, err := os.MkdirTemp("", "strata-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := NewDirStore(DirStoreOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	mem, err := NewMemory(MemoryOptions{CapacityBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer mem.Close()
	s, err := NewStratified(StratifiedOptions{Memory: mem, Tiers: []Tier{store}})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	id := segment.NewID()
	w, _ := segment.NewWriter(nil, id, segment.WriterOptions{Codec: segment.CodecLZ4})
	w.Add([]byte("hello"), []byte("world"))
	data, _ := w.Finish()
	ctx := context.Background()
	if err := s.Put(ctx, id, data); err != nil {
		panic(err)
	}
	v, ok, err := s.Get(ctx, id, []byte("hello"))
	fmt.Println(string(v), ok, err)
	// Output: world true <nil>
}

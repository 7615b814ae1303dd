package cachetiers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

// Defaults for StratifiedOptions; a zero option takes its default.
const (
	DefaultMaxAttempts     = 3
	DefaultBackoff         = 20 * time.Millisecond
	DefaultMaxBackoff      = time.Second
	DefaultAttemptTimeout  = 30 * time.Second
	DefaultFillConcurrency = 2
	DefaultFillQueue       = 256
	DefaultMaxSegmentBytes = 256 << 20

	// maxTiers bounds the tiers below memory; fills track them in a bitmask.
	maxTiers = 16
	// servedByMemory is the "tier index" of a read the memory tier served.
	servedByMemory = -1
	// maxPooledBuf is the largest read buffer kept for reuse.
	maxPooledBuf = 1 << 20
)

// StratifiedOptions configure a Stratified.
type StratifiedOptions struct {
	// Memory is the memory tier. Nil runs without one: every read then goes
	// to the tiers, and a block read also reads the segment's index (useful
	// to measure the tiers, not to serve).
	Memory *Memory

	// Tiers are the strata below memory, shallowest first: ssd, efs, store.
	// Nil entries (a tier not configured) are skipped. The last one is the
	// store of record: it is never written to as a cache, never loses a copy
	// to Remove, and is retried. At least one is required, at most 16.
	Tiers []Tier

	// MaxAttempts bounds the attempts of one read from, or Put to, the store
	// of record. Default 3. Shallower tiers get one attempt each: a failure
	// there sends the read one stratum deeper instead.
	MaxAttempts int

	// Backoff is the pause before the second store attempt; each later pause
	// doubles, up to MaxBackoff, and is jittered to between half and all of
	// that (the "equal jitter" of AWS's retry guidance) so that readers
	// failing together do not retry together. Defaults 20ms and 1s.
	Backoff, MaxBackoff time.Duration

	// AttemptTimeout bounds one read or write at one tier, so that a stalled
	// cache tier costs at most this before the read moves deeper, and a
	// stalled store attempt is retried. Default 30s. A caller's deadline
	// applies as well, and is usually the tighter bound.
	AttemptTimeout time.Duration

	// FillConcurrency is the number of goroutines that write promoted
	// segments into the shallower tiers. Default 2.
	FillConcurrency int

	// FillQueue bounds the segments waiting for promotion. A fill that finds
	// it full is dropped and counted (TierMetrics.FillDrops): promotion is an
	// optimization, and a later read asks for it again. Default 256.
	FillQueue int

	// MaxSegmentBytes bounds the size of a segment Stratified reads whole or
	// accepts in Put, and so the memory one fill or footer read may take. A
	// tier that claims a larger segment is treated as holding a bad copy.
	// Default 256 MiB (Datomic-style segments are around 50 KB).
	MaxSegmentBytes int64

	// WriteThrough makes Put also write the segment into every tier above
	// the store of record, and its index into memory, after the store
	// accepted it. Useful where new segments are read soon after they are
	// written (the indexing job's output is read by every query that follows).
	WriteThrough bool
}

func (o StratifiedOptions) withDefaults() StratifiedOptions {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.Backoff)
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.FillConcurrency == 0 {
		o.FillConcurrency = DefaultFillConcurrency
	}
	if o.FillQueue == 0 {
		o.FillQueue = DefaultFillQueue
	}
	if o.MaxSegmentBytes == 0 {
		o.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	return o
}

func (o StratifiedOptions) validate(tiers []Tier) error {
	bad := func(format string, args ...any) error {
		return anomaly.New(anomaly.Incorrect, "stratified options", format, args...)
	}
	switch {
	case len(tiers) == 0:
		return bad("no tiers: the store of record is required")
	case len(tiers) > maxTiers:
		return bad("%d tiers, at most %d", len(tiers), maxTiers)
	case o.MaxAttempts < 1:
		return bad("MaxAttempts %d must be at least 1", o.MaxAttempts)
	case o.Backoff < 0 || o.MaxBackoff < o.Backoff:
		return bad("Backoff %v and MaxBackoff %v must satisfy 0 <= Backoff <= MaxBackoff", o.Backoff, o.MaxBackoff)
	case o.AttemptTimeout < 0:
		return bad("AttemptTimeout %v is negative", o.AttemptTimeout)
	case o.FillConcurrency < 1:
		return bad("FillConcurrency %d must be at least 1", o.FillConcurrency)
	case o.FillQueue < 1:
		return bad("FillQueue %d must be at least 1", o.FillQueue)
	case o.MaxSegmentBytes < segment.FooterReadSize:
		return bad("MaxSegmentBytes %d is below %d", o.MaxSegmentBytes, segment.FooterReadSize)
	}
	return nil
}

// Stratified reads segment indexes and blocks through the strata, shallowest
// first: memory, then each Tier down to the store of record.
//
// Read path. An index is a suffix read of segment.FooterReadSize bytes (a
// longer one if the index needs it) parsed by segment.ParseFooter; a block is
// one ReadAt of Index.BlockRange decoded by segment.DecodeBlock, which
// verifies its checksum. What a tier returns is verified before it is used,
// so a read returns correct bytes or an error, never wrong bytes.
//
// Promotion. A decoded index or block goes into memory. When a deeper tier
// served a read, the shallower tiers that missed it or held a bad copy get
// the whole segment (tiers hold whole segments) from a bounded background
// filler: it reads the segment from the tier that served, checks it with
// segment.Verify, and Puts it upward. Fills of one segment coalesce; a full
// queue drops the fill and counts it.
//
// Coalescing. Concurrent misses of the same index or block share one fetch,
// which runs on the first caller's goroutine: each caller waits with its own
// context and leaves when that ends; if the first caller leaves mid-fetch,
// those still waiting fetch afresh.
//
// Recovery. A tier without the segment (ErrNotFound) is a miss. A checksum
// mismatch, short read or I/O error is counted as an error of that tier, its
// copy is removed, and the read goes one stratum deeper; the filler then
// rewrites the copy. A stalled tier is abandoned after AttemptTimeout (its
// copy is kept). The store of record is retried MaxAttempts times with
// backoff, then the read fails with anomaly.Unavailable naming the segment.
// A caller whose deadline passes gets anomaly.Unavailable (wrapping
// context.DeadlineExceeded) at once; one whose context is cancelled gets
// anomaly.Interrupted.
//
// Decoded blocks and indexes returned are shared with the memory tier and
// other readers: treat them as read-only.
//
// A Stratified is safe for concurrent use.
type Stratified struct {
	opts    StratifiedOptions
	mem     *Memory
	tiers   []Tier
	memM    *tierMetrics // nil without a memory tier
	metrics []*tierMetrics

	flightsMu sync.Mutex
	flights   map[memKey]*flight
	coalesced atomic.Int64 // callers that joined a fetch in progress

	fillMu      sync.Mutex
	fillPending map[segment.ID]*fillJob // queued or running
	fillIdle    chan struct{}           // closed while fillPending is empty
	fillQ       chan *fillJob
	closed      bool
	fillCtx     context.Context
	fillCancel  context.CancelFunc
	fillWG      sync.WaitGroup

	bufPool sync.Pool // *[]byte read buffers for blocks
}

// NewStratified returns a Stratified over opts' tiers and starts its filler.
// It does not take ownership of the tiers or the memory tier: Close stops
// Stratified only, and their owner closes them after.
func NewStratified(opts StratifiedOptions) (*Stratified, error) {
	var tiers []Tier
	for _, t := range opts.Tiers {
		if !isNilTier(t) {
			tiers = append(tiers, t)
		}
	}
	opts = opts.withDefaults()
	if err := opts.validate(tiers); err != nil {
		return nil, err
	}
	opts.Tiers = tiers
	s := &Stratified{
		opts:        opts,
		mem:         opts.Memory,
		tiers:       tiers,
		flights:     make(map[memKey]*flight),
		fillPending: make(map[segment.ID]*fillJob),
		fillIdle:    make(chan struct{}),
		fillQ:       make(chan *fillJob, opts.FillQueue),
	}
	close(s.fillIdle)
	if s.mem != nil {
		s.memM = newTierMetrics("memory")
	}
	for _, t := range tiers {
		s.metrics = append(s.metrics, newTierMetrics(t.Name()))
	}
	s.fillCtx, s.fillCancel = context.WithCancel(context.Background())
	s.fillWG.Add(opts.FillConcurrency)
	for range opts.FillConcurrency {
		go s.fillWorker()
	}
	return s, nil
}

// isNilTier reports whether t is nil, including a typed nil pointer such as
// (*SSD)(nil), which is how an unconfigured tier tends to arrive.
func isNilTier(t Tier) bool {
	if t == nil {
		return true
	}
	v := reflect.ValueOf(t)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// Index returns the parsed index of segment id.
func (s *Stratified) Index(ctx context.Context, id segment.ID) (*segment.Index, error) {
	tm := startRead()
	ix, served, err := s.index(ctx, id, &tm)
	if err != nil {
		return nil, err
	}
	s.recordLatency(&tm, served)
	return ix, nil
}

// Block returns the decoded block i of segment id.
func (s *Stratified) Block(ctx context.Context, id segment.ID, i int) ([]byte, error) {
	tm := startRead()
	b, served, err := s.block(ctx, id, i, &tm)
	if err != nil {
		return nil, err
	}
	s.recordLatency(&tm, served)
	return b, nil
}

// Get returns the value of key in segment id, and whether it is there. The
// value aliases a shared decoded block: treat it as read-only. Its latency is
// recorded as a block read's.
func (s *Stratified) Get(ctx context.Context, id segment.ID, key []byte) (value []byte, found bool, err error) {
	tm := startRead()
	ix, _, err := s.index(ctx, id, &tm)
	if err != nil {
		return nil, false, err
	}
	i := ix.Find(key)
	if i < 0 || bytes.Compare(key, ix.LastKey) > 0 {
		return nil, false, nil
	}
	b, served, err := s.block(ctx, id, i, &tm)
	if err != nil {
		return nil, false, err
	}
	s.recordLatency(&tm, served)
	var it segment.BlockIter
	if err := it.InitBlock(ix, i, b); err != nil {
		return nil, false, err
	}
	if it.SeekGE(key) && bytes.Equal(it.Key(), key) {
		return it.Value(), true, nil
	}
	return nil, false, it.Err()
}

// MemoryHitSampleEvery is how often a read that memory serves is timed: one
// in this many. Timing a read takes two monotonic clock reads and a histogram
// update, about 80 ns here, which is more than the memory hit itself (about
// 45 ns; BenchmarkStratifiedMemoryHit). A uniform sample keeps the memory
// tier's percentiles unbiased at an eighth of the cost; its Latency.Count is
// then about Hits/MemoryHitSampleEvery. Reads that miss memory are all timed.
const MemoryHitSampleEvery = 8

// readTimer times one read: from the call if the read was sampled, else
// from the moment it missed memory.
type readTimer struct {
	start   time.Duration
	running bool
}

func startRead() readTimer {
	if rand.Uint32N(MemoryHitSampleEvery) == 0 {
		return readTimer{start: nanotime(), running: true}
	}
	return readTimer{}
}

// missedMemory starts the clock, if it is not running: every read that
// goes past memory is timed.
func (t *readTimer) missedMemory() {
	if !t.running {
		t.start, t.running = nanotime(), true
	}
}

func (s *Stratified) recordLatency(t *readTimer, served int) {
	if t.running {
		s.metricsFor(served).latency.Record(nanotime() - t.start)
	}
}

func (s *Stratified) metricsFor(served int) *tierMetrics {
	if served == servedByMemory {
		return s.memM
	}
	return s.metrics[served]
}

func (s *Stratified) index(ctx context.Context, id segment.ID, tm *readTimer) (*segment.Index, int, error) {
	if s.mem != nil {
		if ix, ok := s.mem.Index(id); ok {
			s.memM.hits.Add(1)
			return ix, servedByMemory, nil
		}
	}
	tm.missedMemory()
	key := memKey{id, indexMarker}
	op := "read segment " + id.String() + " index"
	r := s.do(ctx, key, op, func(fctx context.Context) flightResult {
		return s.fetchIndex(fctx, id, op)
	})
	return r.index, r.served, r.err
}

func (s *Stratified) block(ctx context.Context, id segment.ID, i int, tm *readTimer) ([]byte, int, error) {
	if i < 0 {
		return nil, 0, anomaly.New(anomaly.Incorrect, "read segment "+id.String(), "block %d is negative", i)
	}
	if s.mem != nil {
		if b, ok := s.mem.Block(id, i); ok {
			s.memM.hits.Add(1)
			s.memM.bytesRead.Add(int64(len(b)))
			return b, servedByMemory, nil
		}
	}
	tm.missedMemory()
	ix, _, err := s.index(ctx, id, tm)
	if err != nil {
		return nil, 0, err
	}
	if i >= len(ix.Blocks) {
		return nil, 0, anomaly.New(anomaly.Incorrect, "read segment "+id.String(),
			"block %d out of range: the segment has %d blocks", i, len(ix.Blocks))
	}
	op := fmt.Sprintf("read segment %s block %d", id, i)
	r := s.do(ctx, memKey{id, i}, op, func(fctx context.Context) flightResult {
		return s.fetchBlock(fctx, id, ix, i, op)
	})
	return r.block, r.served, r.err
}

// flight is one fetch shared by every concurrent miss of one key.
type flight struct {
	done    chan struct{} // closed when res is set
	res     flightResult
	waiters int  // callers that joined the leader; guarded by flightsMu
	dropped bool // the leader's context ended mid-fetch: joiners fetch afresh
}

type flightResult struct {
	block  []byte
	index  *segment.Index
	served int // the tier that served, or servedByMemory
	err    error
}

// do returns the result of fetch for key, sharing one fetch among all
// concurrent callers (singleflight).
//
// The first caller (the leader) runs the fetch on its own goroutine, under
// its own context; later callers wait for it, each under its own context.
// Running the fetch on a separate goroutine would let it outlive a leader
// that gives up, but costs two goroutine hand-offs per miss: 20–27 µs on an
// ssd block read here (BenchmarkStratum/stratum=ssd, GOMAXPROCS=2), a third
// of the read. So if the leader's context ends mid-fetch, the leader returns
// at once and the joiners still waiting start a fresh fetch (one of them
// leads it) — a rare repeated read, in exchange for every miss being cheaper
// and every caller's deadline being kept.
//
// It also counts the memory tier's hit or miss: a caller that finds no
// flight looks in memory again under flightsMu, because a flight stores its
// result in memory before it leaves the map, so a fetch that finished
// between the caller's first look and now is seen instead of repeated.
func (s *Stratified) do(ctx context.Context, key memKey, op string, fetch func(context.Context) flightResult) flightResult {
	counted := false
	for {
		if err := ctx.Err(); err != nil {
			return flightResult{err: ctxError(ctx, op)}
		}
		s.flightsMu.Lock()
		f := s.flights[key]
		if f == nil {
			if r, ok := s.memPeek(key); ok {
				s.flightsMu.Unlock()
				if !counted {
					s.memM.hits.Add(1)
				}
				return r
			}
			f = &flight{done: make(chan struct{})}
			s.flights[key] = f
			s.flightsMu.Unlock()
			if !counted && s.memM != nil {
				s.memM.misses.Add(1)
			}
			return s.lead(ctx, key, op, f, fetch)
		}
		f.waiters++
		s.flightsMu.Unlock()
		s.coalesced.Add(1)
		if !counted && s.memM != nil {
			s.memM.misses.Add(1)
		}
		counted = true

		select {
		case <-f.done:
			if !f.dropped {
				return f.res
			}
			// The leader left mid-fetch; go round and fetch afresh.
		case <-ctx.Done():
			return flightResult{err: ctxError(ctx, op)}
		}
	}
}

// lead runs fetch for the flight f that the caller registered under key,
// stores a good result in memory and hands the result to the joiners.
func (s *Stratified) lead(ctx context.Context, key memKey, op string, f *flight, fetch func(context.Context) flightResult) flightResult {
	r := fetch(ctx)
	if r.err == nil && s.mem != nil {
		if r.index != nil {
			s.mem.PutIndex(key.id, r.index)
		} else {
			s.mem.PutBlock(key.id, key.block, r.block)
		}
	}
	left := r.err != nil && ctx.Err() != nil
	s.flightsMu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	f.res, f.dropped = r, left
	close(f.done)
	s.flightsMu.Unlock()
	if left {
		return flightResult{err: ctxError(ctx, op)}
	}
	return r
}

// memPeek looks key up in memory without counting it as an access.
func (s *Stratified) memPeek(key memKey) (flightResult, bool) {
	if s.mem == nil {
		return flightResult{}, false
	}
	v, ok := s.mem.peek(key)
	if !ok {
		return flightResult{}, false
	}
	return flightResult{block: v.block, index: v.index, served: servedByMemory}, true
}

// ctxError is the error of a caller whose context ended while it waited.
func ctxError(ctx context.Context, op string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return &anomaly.Error{Category: anomaly.Unavailable, Op: op, Msg: "no answer within the deadline", Err: err}
	}
	return &anomaly.Error{Category: anomaly.Interrupted, Op: op, Err: err}
}

// tierRead reads one thing (an index, a block) of a segment from one tier and
// verifies it. It returns the segment's size as the tier reports it and the
// number of bytes it read.
type tierRead func(ctx context.Context, k int, t Tier) (size int64, n int, err error)

// readThrough runs read against each tier, shallowest first, until one
// succeeds. It returns the tier that served, the segment's size, and the
// tiers above it to fill (those that missed, or held a bad copy that was
// removed). The store of record is retried; the others are tried once.
func (s *Stratified) readThrough(ctx context.Context, id segment.ID, op string, read tierRead) (served int, size int64, fill uint16, err error) {
	last := len(s.tiers) - 1
	for k, t := range s.tiers {
		m := s.metrics[k]
		if k < last {
			size, n, err := s.attempt(ctx, k, t, read)
			m.bytesRead.Add(int64(n))
			switch {
			case err == nil:
				m.hits.Add(1)
				return k, size, fill, nil
			case ctx.Err() != nil:
				return 0, 0, 0, ctx.Err()
			case errors.Is(err, ErrNotFound):
				m.misses.Add(1)
				fill |= 1 << k
			case errors.Is(err, context.DeadlineExceeded):
				// The tier stalled past AttemptTimeout: its copy may be good,
				// and a fill would likely stall too. Go deeper, keep it.
				m.errors.Add(1)
			default:
				// Corrupt, short or unreadable: drop the copy, refill it.
				m.errors.Add(1)
				s.removeBad(ctx, k, id)
				fill |= 1 << k
			}
			continue
		}

		var lastErr error
		for a := 1; a <= s.opts.MaxAttempts; a++ {
			if a > 1 {
				m.retries.Add(1)
				if err := sleepCtx(ctx, s.backoff(a-1)); err != nil {
					return 0, 0, 0, err
				}
			}
			size, n, err := s.attempt(ctx, k, t, read)
			m.bytesRead.Add(int64(n))
			switch {
			case err == nil:
				m.hits.Add(1)
				return k, size, fill, nil
			case ctx.Err() != nil:
				return 0, 0, 0, ctx.Err()
			case errors.Is(err, ErrNotFound):
				m.misses.Add(1)
				return 0, 0, 0, &anomaly.Error{Category: anomaly.NotFound, Op: op,
					Msg: fmt.Sprintf("not in the store of record (%s)", t.Name()), Err: err}
			}
			m.errors.Add(1)
			lastErr = err
		}
		return 0, 0, 0, &anomaly.Error{Category: anomaly.Unavailable, Op: op,
			Msg: fmt.Sprintf("store of record (%s) failed %d attempts", t.Name(), s.opts.MaxAttempts), Err: lastErr}
	}
	panic("unreachable: Stratified has no tiers")
}

// attempt runs one read at one tier under AttemptTimeout.
func (s *Stratified) attempt(ctx context.Context, k int, t Tier, read tierRead) (int64, int, error) {
	actx, cancel := context.WithTimeout(ctx, s.opts.AttemptTimeout)
	defer cancel()
	size, n, err := read(actx, k, t)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		// The tier gave up in its own words (or wrapped it as Interrupted):
		// make the timeout visible to readThrough.
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return size, max(n, 0), err
}

func (s *Stratified) removeBad(ctx context.Context, k int, id segment.ID) {
	actx, cancel := context.WithTimeout(ctx, s.opts.AttemptTimeout)
	defer cancel()
	if err := s.tiers[k].Remove(actx, id); err == nil {
		s.metrics[k].removes.Add(1)
	}
}

// backoff returns the pause before retry number n (1-based): Backoff·2^(n-1)
// capped at MaxBackoff, with equal jitter.
func (s *Stratified) backoff(n int) time.Duration {
	d := s.opts.MaxBackoff
	if n-1 < 62 {
		if b := s.opts.Backoff << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func corruptCopy(id segment.ID, block int, off int64, format string, args ...any) error {
	return &segment.CorruptError{ID: id, Block: block, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (s *Stratified) fetchIndex(ctx context.Context, id segment.ID, op string) flightResult {
	var ix *segment.Index
	served, size, fill, err := s.readThrough(ctx, id, op, func(ctx context.Context, k int, t Tier) (int64, int, error) {
		var read int
		tail := make([]byte, segment.FooterReadSize)
		n, size, err := t.ReadAt(ctx, id, tail, -1)
		if err != nil {
			return size, n, err
		}
		read += n
		if size <= 0 || size > s.opts.MaxSegmentBytes {
			return size, read, corruptCopy(id, -1, 0, "%s reports a segment of %d bytes (limit %d)", t.Name(), size, s.opts.MaxSegmentBytes)
		}
		if want := min(size, segment.FooterReadSize); int64(n) != want {
			return size, read, corruptCopy(id, -1, size-want, "short read from %s: %d of %d footer bytes", t.Name(), n, want)
		}
		got, need, err := segment.ParseFooter(id, tail[:n], size)
		if err == nil && need > 0 {
			if need <= n || int64(need) > size {
				return size, read, corruptCopy(id, -1, size-int64(need), "footer asks for a %d-byte tail of a %d-byte segment", need, size)
			}
			tail = make([]byte, need)
			var size2 int64
			n, size2, err = t.ReadAt(ctx, id, tail, -1)
			read += max(n, 0)
			if err != nil {
				return size, read, err
			}
			if n != need || size2 != size {
				return size, read, corruptCopy(id, -1, size-int64(need), "short read from %s: %d of %d index bytes (size %d, was %d)", t.Name(), n, need, size2, size)
			}
			got, need, err = segment.ParseFooter(id, tail, size)
			if err == nil && need > 0 {
				return size, read, corruptCopy(id, -1, size-int64(need), "footer asks for %d bytes after reading %d", need, n)
			}
		}
		if err != nil {
			return size, read, err
		}
		if got.ID != id {
			return size, read, corruptCopy(id, -1, size, "%s holds segment %s under this id", t.Name(), got.ID)
		}
		ix = got
		return size, read, nil
	})
	if err != nil {
		return flightResult{err: err}
	}
	s.maybeFill(id, served, size, fill)
	return flightResult{index: ix, served: served}
}

func (s *Stratified) fetchBlock(ctx context.Context, id segment.ID, ix *segment.Index, i int, op string) flightResult {
	off, want := ix.BlockRange(i)
	var block []byte
	served, size, fill, err := s.readThrough(ctx, id, op, func(ctx context.Context, k int, t Tier) (int64, int, error) {
		bp := s.getBuf(want)
		raw := (*bp)[:want]
		n, size, err := t.ReadAt(ctx, id, raw, off)
		if err != nil {
			// Not reused: a tier that gave up on a context may not be done with raw.
			return size, n, err
		}
		defer s.putBuf(bp)
		if n != want {
			return size, n, corruptCopy(id, i, off, "short read from %s: %d of %d bytes", t.Name(), n, want)
		}
		if size != ix.Size {
			return size, n, corruptCopy(id, i, off, "%s holds %d bytes, the index says %d", t.Name(), size, ix.Size)
		}
		b, err := segment.DecodeBlock(ix, i, raw, make([]byte, 0, ix.Blocks[i].RawLength))
		if err != nil {
			return size, n, err
		}
		block = b
		return size, n, nil
	})
	if err != nil {
		return flightResult{err: err}
	}
	s.maybeFill(id, served, size, fill)
	return flightResult{block: block, served: served}
}

func (s *Stratified) getBuf(n int) *[]byte {
	if p, ok := s.bufPool.Get().(*[]byte); ok && cap(*p) >= n {
		return p
	}
	b := make([]byte, n)
	return &b
}

func (s *Stratified) putBuf(p *[]byte) {
	if cap(*p) <= maxPooledBuf {
		s.bufPool.Put(p)
	}
}

// Put validates data as segment id (segment.Verify: every checksum, every
// length), writes it to the store of record (retried like a read), and then,
// with WriteThrough, to the other tiers and the index to memory. A corrupt
// segment is refused with an error matching segment.ErrCorrupt and nothing is
// written. Errors writing the cache tiers are counted (FillErrors), not
// returned: the store of record holds the segment.
func (s *Stratified) Put(ctx context.Context, id segment.ID, data []byte) error {
	op := "put segment " + id.String()
	if int64(len(data)) > s.opts.MaxSegmentBytes {
		return anomaly.New(anomaly.Incorrect, op, "%d bytes exceed MaxSegmentBytes %d", len(data), s.opts.MaxSegmentBytes)
	}
	ix, err := segment.Verify(id, data)
	if err != nil {
		return fmt.Errorf("%s: refused: %w", op, err)
	}
	last := len(s.tiers) - 1
	store, m := s.tiers[last], s.metrics[last]
	var lastErr error
	for a := 1; a <= s.opts.MaxAttempts; a++ {
		if a > 1 {
			m.retries.Add(1)
			if err := sleepCtx(ctx, s.backoff(a-1)); err != nil {
				return ctxError(ctx, op)
			}
		}
		actx, cancel := context.WithTimeout(ctx, s.opts.AttemptTimeout)
		err := store.Put(actx, id, data)
		cancel()
		if err == nil {
			lastErr = nil
			break
		}
		if ctx.Err() != nil {
			return ctxError(ctx, op)
		}
		lastErr = err
		if c := anomaly.CategoryOf(err); !c.Retryable() && c != anomaly.Fault {
			return fmt.Errorf("%s: %w", op, err) // the store refused (Incorrect, Forbidden, …)
		}
	}
	if lastErr != nil {
		return &anomaly.Error{Category: anomaly.Unavailable, Op: op,
			Msg: fmt.Sprintf("store of record (%s) failed %d attempts", store.Name(), s.opts.MaxAttempts), Err: lastErr}
	}
	if !s.opts.WriteThrough {
		return nil
	}
	for k := range last {
		s.putTier(ctx, k, id, data)
	}
	if s.mem != nil {
		s.mem.PutIndex(id, ix)
	}
	return nil
}

// putTier writes a whole segment into cache tier k and counts the fill.
func (s *Stratified) putTier(ctx context.Context, k int, id segment.ID, data []byte) {
	actx, cancel := context.WithTimeout(ctx, s.opts.AttemptTimeout)
	defer cancel()
	m := s.metrics[k]
	if err := s.tiers[k].Put(actx, id, data); err != nil {
		m.fillErrors.Add(1)
		return
	}
	m.fills.Add(1)
	m.fillBytes.Add(int64(len(data)))
}

// fillJob is a pending promotion of one segment into some tiers. Requests
// for the same segment while it is pending merge into it.
type fillJob struct {
	id      segment.ID
	size    int64
	source  int    // the tier to read the whole segment from first
	targets uint16 // tiers to write, bit k for tier k
	done    uint16 // tiers already handled
}

// maybeFill queues a promotion of segment id from tier source into the
// tiers in targets, unless there are none.
func (s *Stratified) maybeFill(id segment.ID, source int, size int64, targets uint16) {
	if targets == 0 {
		return
	}
	s.fillMu.Lock()
	defer s.fillMu.Unlock()
	if s.closed {
		s.countFillDropsLocked(targets)
		return
	}
	if j := s.fillPending[id]; j != nil {
		// Every target sits above its request's source, so above the deepest one.
		j.targets |= targets
		j.source = max(j.source, source)
		return
	}
	if size > s.opts.MaxSegmentBytes {
		s.countFillDropsLocked(targets)
		return
	}
	j := &fillJob{id: id, size: size, source: source, targets: targets}
	select {
	case s.fillQ <- j:
		if len(s.fillPending) == 0 {
			s.fillIdle = make(chan struct{})
		}
		s.fillPending[id] = j
	default:
		s.countFillDropsLocked(targets)
	}
}

func (s *Stratified) countFillDropsLocked(targets uint16) {
	for ; targets != 0; targets &= targets - 1 {
		s.metrics[bits.TrailingZeros16(targets)].fillDrops.Add(1)
	}
}

func (s *Stratified) fillWorker() {
	defer s.fillWG.Done()
	for j := range s.fillQ {
		s.runFill(j)
	}
}

// runFill does job j, and again for targets merged into it meanwhile.
func (s *Stratified) runFill(j *fillJob) {
	for {
		s.fillMu.Lock()
		todo := j.targets &^ j.done
		if todo == 0 || s.fillCtx.Err() != nil {
			s.countFillDropsLocked(todo)
			delete(s.fillPending, j.id)
			if len(s.fillPending) == 0 {
				close(s.fillIdle)
			}
			s.fillMu.Unlock()
			return
		}
		j.done |= todo
		source := j.source
		s.fillMu.Unlock()
		s.fill(j.id, j.size, source, todo)
	}
}

// fill reads segment id whole from tier source (or, failing that, a deeper
// one), verifies it and writes it into the targets.
func (s *Stratified) fill(id segment.ID, size int64, source int, targets uint16) {
	ctx := s.fillCtx
	var data []byte
	for k := source; k < len(s.tiers) && data == nil; k++ {
		buf := make([]byte, size)
		_, _, err := s.attempt(ctx, k, s.tiers[k], func(ctx context.Context, k int, t Tier) (int64, int, error) {
			n, got, err := t.ReadAt(ctx, id, buf, 0)
			if err != nil {
				return got, n, err
			}
			if n != len(buf) || got != size {
				return got, n, corruptCopy(id, -1, 0, "%s holds %d bytes (read %d), want %d", t.Name(), got, n, size)
			}
			_, err = segment.Verify(id, buf)
			return got, n, err
		})
		if err == nil {
			s.metrics[k].bytesRead.Add(size)
			data = buf
		} else if !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
			s.metrics[k].errors.Add(1)
		}
	}
	if data == nil && ctx.Err() != nil {
		s.fillMu.Lock()
		s.countFillDropsLocked(targets) // Close cancelled it
		s.fillMu.Unlock()
		return
	}
	for ; targets != 0; targets &= targets - 1 {
		k := bits.TrailingZeros16(targets)
		if data == nil {
			s.metrics[k].fillErrors.Add(1)
			continue
		}
		s.putTier(ctx, k, id, data)
	}
}

// WaitFills waits until no promotion is queued or running, or ctx ends.
// Promotions queued by reads that returned before the call are waited for;
// ones queued after may or may not be.
func (s *Stratified) WaitFills(ctx context.Context) error {
	s.fillMu.Lock()
	idle := s.fillIdle
	s.fillMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return &anomaly.Error{Category: anomaly.Interrupted, Op: "wait for fills", Err: ctx.Err()}
	}
}

// Close stops the filler: queued promotions are dropped (and counted), a
// running one is cancelled, and Close waits for its goroutines to exit.
// Reads still work after Close but promote only into memory. Close does not
// close the tiers or the memory tier. Calling it again does nothing.
func (s *Stratified) Close() error {
	s.fillMu.Lock()
	if s.closed {
		s.fillMu.Unlock()
		return nil
	}
	s.closed = true
	s.fillCancel()
	close(s.fillQ)
	s.fillMu.Unlock()
	s.fillWG.Wait()
	return nil
}

// StratifiedStats is a snapshot of Stratified's counters, for metrics.
type StratifiedStats struct {
	// Tiers holds memory first (when configured), then each tier shallowest first.
	Tiers []TierMetrics
	// FillsPending counts segments queued or being promoted.
	FillsPending int
	// Flights counts fetches in progress (each shared by its waiters).
	Flights int
	// Coalesced counts reads that joined another read's fetch instead of
	// starting their own.
	Coalesced int64
}

// Stats returns a snapshot of the counters and latency percentiles of every
// stratum. It merges histograms, so call it at scrape rate, not per read.
func (s *Stratified) Stats() StratifiedStats {
	var st StratifiedStats
	if s.memM != nil {
		tm := s.memM.snapshot()
		ms := s.mem.Stats()
		tm.Memory = &ms
		st.Tiers = append(st.Tiers, tm)
	}
	for k, m := range s.metrics {
		tm := m.snapshot()
		ts := s.tiers[k].Stats()
		tm.Tier = &ts
		st.Tiers = append(st.Tiers, tm)
	}
	s.fillMu.Lock()
	st.FillsPending = len(s.fillPending)
	s.fillMu.Unlock()
	s.flightsMu.Lock()
	st.Flights = len(s.flights)
	s.flightsMu.Unlock()
	st.Coalesced = s.coalesced.Load()
	return st
}

// Tier returns the metrics snapshot of the stratum named name ("memory",
// "ssd", "efs", "store"), and whether there is one.
func (st StratifiedStats) Tier(name string) (TierMetrics, bool) {
	for _, t := range st.Tiers {
		if t.Name == name {
			return t, true
		}
	}
	return TierMetrics{}, false
}

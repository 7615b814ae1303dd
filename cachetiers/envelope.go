package cachetiers

import (
	"bytes"
	"container/list"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/bits"
	"os"
	"strings"
	"sync"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

// Envelope encryption of the store of record (issue 7, "encryption at rest
// beyond the AWS services"): each segment gets its own 256-bit data key,
// made by a KeySource (KMS GenerateDataKey, or a local key file for the
// embedded default) and kept, wrapped, in the segment's header; the
// segment is sealed with AES-256-GCM in chunks, so that a byte-range read
// decrypts only the chunks it touches. The store then holds no plaintext,
// even in a bucket without SSE or a directory anyone can read.
//
// Object layout (little-endian), written by sealSegment:
//
//	offset  size  field
//	0       4     magic "SGEV"
//	4       1     format version, 1
//	5       1     key source kind (1 KMS, 2 local key file)
//	6       1     log2 of the chunk size (12..20: 4 KiB to 1 MiB)
//	7       1     reserved, 0
//	8       8     plaintext size P
//	16      2     key id length k (the KMS key ARN, or local:FINGERPRINT)
//	18      2     wrapped data key length w
//	20      k     key id
//	20+k    w     wrapped data key
//	…             zeros up to 508
//	508     4     CRC-32C of bytes 0..508
//	512     …     chunks: chunk i is the i-th C bytes of the plaintext (the
//	              last one shorter; an empty segment is one empty chunk),
//	              sealed with GCM: ciphertext followed by its 16-byte tag
//
// The object is 512 + P + 16·max(1, ⌈P/C⌉) bytes. Chunk i's nonce is i
// (8 bytes) and 4 zero bytes: unique because the key is used for this
// segment only. Each chunk's additional data is the segment id and the
// whole header, so a chunk moved to another segment or position, a header
// changed (the size included, which stops truncation at a chunk
// boundary), or a wrong key all fail authentication, and are reported as
// corruption (segment.ErrCorrupt). The CRC catches a damaged header before
// a key is unwrapped for it.
const (
	envMagic         = "SGEV"
	envVersion       = 1
	envHeaderSize    = 512
	envHeaderCRCAt   = envHeaderSize - 4
	envTagSize       = 16
	envFixedHeader   = 20
	envMinChunkLog   = 12
	envMaxChunkLog   = 20
	envDataKeyBytes  = 32
	envKindKMS       = 1
	envKindLocalFile = 2
)

// Defaults for EnvelopeOptions.
const (
	// DefaultEnvelopeChunkBytes is the plaintext sealed per GCM chunk. A
	// read decrypts (and fetches) whole chunks; 64 KiB keeps that near the
	// size of Datomic-like segments (~50 KB, DESIGN.md) while a block read
	// from a large segment fetches at most 64 KiB + 16 beyond what it wants.
	DefaultEnvelopeChunkBytes = 64 << 10
	// DefaultEnvelopeKeyCache is the number of unwrapped data keys kept.
	// A cold read costs a header read and, with KMS, a Decrypt call (KMS
	// answers in milliseconds and bills per 10,000 requests); the cache
	// makes later reads of a segment one store read. Each entry is a few
	// hundred bytes (the header and an AES key schedule).
	DefaultEnvelopeKeyCache = 4096
)

// ErrWrongKey is returned (wrapped) when a segment's data key was made by
// another master key or key source than the Envelope's.
var ErrWrongKey = errors.New("segment sealed with another key")

// KeySource makes and opens the data keys of an Envelope. Implementations:
// *KMSKeys, *LocalKeys. They must be safe for concurrent use.
type KeySource interface {
	// NewKey returns a fresh 32-byte data key for segment id, in the clear
	// and wrapped (encrypted under the source's master key, bound to id),
	// and the id of the master key that wrapped it.
	NewKey(ctx context.Context, id segment.ID) (plain, wrapped []byte, keyID string, err error)
	// OpenKey returns the data key that NewKey wrapped for segment id
	// under master key keyID.
	OpenKey(ctx context.Context, id segment.ID, keyID string, wrapped []byte) ([]byte, error)
	// Kind names the source in segment headers: 1 KMS, 2 local key file.
	Kind() byte
}

// EnvelopeOptions configure an Envelope.
type EnvelopeOptions struct {
	// Keys makes and opens data keys. Required.
	Keys KeySource
	// ChunkBytes is the plaintext per sealed chunk: a power of two from
	// 4 KiB to 1 MiB. Default DefaultEnvelopeChunkBytes. Only writes use
	// it; a segment's header says its own.
	ChunkBytes int
	// KeyCacheEntries bounds the unwrapped data keys kept (see
	// DefaultEnvelopeKeyCache). Negative: keep none.
	KeyCacheEntries int
}

func (o EnvelopeOptions) withDefaults() EnvelopeOptions {
	if o.ChunkBytes == 0 {
		o.ChunkBytes = DefaultEnvelopeChunkBytes
	}
	if o.KeyCacheEntries == 0 {
		o.KeyCacheEntries = DefaultEnvelopeKeyCache
	}
	return o
}

func (o EnvelopeOptions) validate() error {
	var errs []error
	if o.Keys == nil {
		errs = append(errs, errors.New("Keys is required"))
	}
	if o.ChunkBytes < 1<<envMinChunkLog || o.ChunkBytes > 1<<envMaxChunkLog || o.ChunkBytes&(o.ChunkBytes-1) != 0 {
		errs = append(errs, fmt.Errorf("ChunkBytes %d: want a power of two from 4 KiB to 1 MiB", o.ChunkBytes))
	}
	if len(errs) > 0 {
		return anomaly.Wrap(anomaly.Incorrect, "envelope options", errors.Join(errs...))
	}
	return nil
}

// Envelope is a Tier that encrypts what it stores in the Tier it wraps
// (the store of record: an S3Store or a DirStore). See the layout above.
// Reads of a segment whose data key is cached cost one read of the inner
// tier; a cold read costs two (the header, then the chunks) and one
// OpenKey. It is safe for concurrent use.
type Envelope struct {
	inner    Tier
	keys     KeySource
	chunkLog uint8

	mu       sync.Mutex
	cache    map[segment.ID]*list.Element // of *envKey
	lru      list.List                    // front: most recently used
	cacheMax int
}

var _ Tier = (*Envelope)(nil)

// envKey is a segment's parsed header and its data key, ready to open chunks.
type envKey struct {
	id       segment.ID
	header   [envHeaderSize]byte
	size     int64 // plaintext
	chunkLog uint8
	aead     cipher.AEAD
}

// NewEnvelope wraps inner. Closing the Envelope closes inner.
func NewEnvelope(inner Tier, opts EnvelopeOptions) (*Envelope, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if inner == nil {
		return nil, anomaly.New(anomaly.Incorrect, "new envelope", "no inner tier")
	}
	return &Envelope{
		inner:    inner,
		keys:     opts.Keys,
		chunkLog: uint8(bits.TrailingZeros(uint(opts.ChunkBytes))),
		cache:    map[segment.ID]*list.Element{},
		cacheMax: max(opts.KeyCacheEntries, 0),
	}, nil
}

// Name returns the inner tier's name ("store").
func (e *Envelope) Name() string { return e.inner.Name() }

// Stats returns the inner tier's, with Backend "envelope+" its backend.
// Bytes are the encrypted bytes stored.
func (e *Envelope) Stats() TierStats {
	st := e.inner.Stats()
	st.Backend = "envelope+" + st.Backend
	return st
}

// Close closes the inner tier and forgets the cached keys.
func (e *Envelope) Close() error {
	e.mu.Lock()
	clear(e.cache)
	e.lru.Init()
	e.mu.Unlock()
	return e.inner.Close()
}

// Remove removes the inner tier's copy (if it allows) and forgets its key.
func (e *Envelope) Remove(ctx context.Context, id segment.ID) error {
	err := e.inner.Remove(ctx, id)
	e.mu.Lock()
	if el, ok := e.cache[id]; ok {
		e.lru.Remove(el)
		delete(e.cache, id)
	}
	e.mu.Unlock()
	return err
}

// envSealedSize is the size of the object holding p plaintext bytes.
func envSealedSize(p int64, chunkLog uint8) int64 {
	return envHeaderSize + p + envTagSize*envChunks(p, chunkLog)
}

func envChunks(p int64, chunkLog uint8) int64 {
	return max(1, (p+(1<<chunkLog)-1)>>chunkLog)
}

// envNonce is chunk i's nonce.
func envNonce(i int64) []byte {
	var n [12]byte
	binary.LittleEndian.PutUint64(n[:], uint64(i))
	return n[:]
}

// envAAD is a chunk's additional data: the segment id and the header.
func envAAD(id segment.ID, header *[envHeaderSize]byte) []byte {
	aad := make([]byte, 0, len(id)+envHeaderSize)
	return append(append(aad, id[:]...), header[:]...)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Put seals data under a fresh data key and stores it. As the Tier
// contract says, a segment already present is left as it is; the key made
// for this call is then thrown away. (Which is also why Put does not cache
// the key: it may not be the stored segment's.)
func (e *Envelope) Put(ctx context.Context, id segment.ID, data []byte) error {
	op := "envelope put " + id.Short()
	plain, wrapped, keyID, err := e.keys.NewKey(ctx, id)
	if err != nil {
		return err
	}
	defer clear(plain)
	if len(plain) != envDataKeyBytes {
		return anomaly.New(anomaly.Fault, op, "the key source made a %d-byte data key, want %d", len(plain), envDataKeyBytes)
	}
	if envFixedHeader+len(keyID)+len(wrapped) > envHeaderCRCAt {
		return anomaly.New(anomaly.Unsupported, op, "key id (%d bytes) and wrapped key (%d bytes) do not fit a %d-byte header", len(keyID), len(wrapped), envHeaderSize)
	}
	var h [envHeaderSize]byte
	copy(h[0:4], envMagic)
	h[4] = envVersion
	h[5] = e.keys.Kind()
	h[6] = e.chunkLog
	binary.LittleEndian.PutUint64(h[8:16], uint64(len(data)))
	binary.LittleEndian.PutUint16(h[16:18], uint16(len(keyID)))
	binary.LittleEndian.PutUint16(h[18:20], uint16(len(wrapped)))
	copy(h[envFixedHeader:], keyID)
	copy(h[envFixedHeader+len(keyID):], wrapped)
	binary.LittleEndian.PutUint32(h[envHeaderCRCAt:], crc32.Checksum(h[:envHeaderCRCAt], castagnoli))

	aead, err := newGCM(plain)
	if err != nil {
		return anomaly.Wrap(anomaly.Fault, op, err)
	}
	p := int64(len(data))
	out := make([]byte, envHeaderSize, envSealedSize(p, e.chunkLog))
	copy(out, h[:])
	aad := envAAD(id, &h)
	c := int64(1) << e.chunkLog
	for i := range envChunks(p, e.chunkLog) {
		out = aead.Seal(out, envNonce(i), data[min(i*c, p):min((i+1)*c, p)], aad)
	}
	if int64(len(out)) != envSealedSize(p, e.chunkLog) {
		panic(fmt.Sprintf("cachetiers: envelope invariant: sealed %d bytes, layout says %d", len(out), envSealedSize(p, e.chunkLog)))
	}
	return e.inner.Put(ctx, id, out)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ReadAt reads a byte range of segment id's plaintext; see Tier. Only the
// chunks the range touches are read and decrypted.
func (e *Envelope) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	op := "envelope read " + id.Short()
	k, err := e.key(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	start, length, err := resolveRange(op, id, k.size, len(p), off)
	if err != nil || length == 0 {
		return 0, k.size, err
	}
	c := int64(1) << k.chunkLog
	first, last := start/c, (start+int64(length)-1)/c
	ctStart := envHeaderSize + first*(c+envTagSize)
	ctEnd := min(envHeaderSize+(last+1)*(c+envTagSize), envSealedSize(k.size, k.chunkLog))
	// The store is the coldest tier and its reads cost a network round
	// trip: a buffer per read is not what limits them.
	buf := make([]byte, ctEnd-ctStart)
	n, total, err := e.inner.ReadAt(ctx, id, buf, ctStart)
	if err != nil {
		return 0, k.size, err
	}
	if want := envSealedSize(k.size, k.chunkLog); total != want || n != len(buf) {
		e.forget(id)
		return 0, k.size, envCorrupt(id, ctStart, "the sealed segment is %d bytes (read %d of %d), its header says %d", total, n, len(buf), want)
	}
	aad := envAAD(id, &k.header)
	for i := first; i <= last; i++ {
		at := (i - first) * (c + envTagSize)
		ct := buf[at:min(at+c+envTagSize, int64(len(buf)))]
		pt, err := k.aead.Open(ct[:0], envNonce(i), ct, aad)
		if err != nil {
			e.forget(id)
			return 0, k.size, envCorrupt(id, ctStart+at, "chunk %d does not authenticate (altered bytes, or a chunk of another segment)", i)
		}
		// Copy the part of chunk i that the range covers.
		lo, hi := max(start, i*c), min(start+int64(length), i*c+int64(len(pt)))
		copy(p[lo-start:hi-start], pt[lo-i*c:hi-i*c])
	}
	return length, k.size, nil
}

func envCorrupt(id segment.ID, off int64, format string, args ...any) error {
	return anomaly.Wrap(anomaly.Fault, "envelope read "+id.Short(), &segment.CorruptError{
		ID: id, Block: -1, Offset: off, Msg: fmt.Sprintf(format, args...),
	})
}

// key returns segment id's parsed header and data key, from the cache or
// from the inner tier and the key source.
func (e *Envelope) key(ctx context.Context, id segment.ID) (*envKey, error) {
	e.mu.Lock()
	if el, ok := e.cache[id]; ok {
		e.lru.MoveToFront(el)
		k := el.Value.(*envKey)
		e.mu.Unlock()
		return k, nil
	}
	e.mu.Unlock()

	k := &envKey{id: id}
	n, total, err := e.inner.ReadAt(ctx, id, k.header[:], 0)
	if err != nil {
		return nil, err
	}
	if n != envHeaderSize {
		return nil, envCorrupt(id, 0, "read %d header bytes, want %d", n, envHeaderSize)
	}
	h := &k.header
	if string(h[0:4]) != envMagic {
		return nil, envCorrupt(id, 0, "bad magic %q: not an encrypted segment", h[0:4])
	}
	if stored, computed := binary.LittleEndian.Uint32(h[envHeaderCRCAt:]), crc32.Checksum(h[:envHeaderCRCAt], castagnoli); stored != computed {
		return nil, envCorrupt(id, 0, "header checksum mismatch (stored 0x%08x, computed 0x%08x)", stored, computed)
	}
	if h[4] != envVersion {
		return nil, envCorrupt(id, 4, "format version %d, want %d", h[4], envVersion)
	}
	k.chunkLog = h[6]
	if k.chunkLog < envMinChunkLog || k.chunkLog > envMaxChunkLog {
		return nil, envCorrupt(id, 6, "chunk size 2^%d out of range", k.chunkLog)
	}
	size := binary.LittleEndian.Uint64(h[8:16])
	kl, wl := int(binary.LittleEndian.Uint16(h[16:18])), int(binary.LittleEndian.Uint16(h[18:20]))
	if envFixedHeader+kl+wl > envHeaderCRCAt {
		return nil, envCorrupt(id, 16, "key id (%d bytes) and wrapped key (%d bytes) overrun the header", kl, wl)
	}
	if size > uint64(total) {
		return nil, envCorrupt(id, 8, "plaintext size %d exceeds the sealed segment's %d bytes", size, total)
	}
	k.size = int64(size)
	if want := envSealedSize(k.size, k.chunkLog); total != want {
		return nil, envCorrupt(id, 0, "the sealed segment is %d bytes, its header says %d", total, want)
	}
	if h[5] != e.keys.Kind() {
		return nil, anomaly.Wrap(anomaly.Fault, "envelope read "+id.Short(),
			fmt.Errorf("%w: key source kind %d, this store's is %d", ErrWrongKey, h[5], e.keys.Kind()))
	}
	keyID := string(h[envFixedHeader : envFixedHeader+kl])
	wrapped := bytes.Clone(h[envFixedHeader+kl : envFixedHeader+kl+wl])
	plain, err := e.keys.OpenKey(ctx, id, keyID, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if len(plain) != envDataKeyBytes {
		return nil, anomaly.New(anomaly.Fault, "envelope read "+id.Short(), "the key source opened a %d-byte data key, want %d", len(plain), envDataKeyBytes)
	}
	if k.aead, err = newGCM(plain); err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "envelope read "+id.Short(), err)
	}
	e.remember(k)
	return k, nil
}

func (e *Envelope) remember(k *envKey) {
	if e.cacheMax == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if el, ok := e.cache[k.id]; ok {
		el.Value = k
		e.lru.MoveToFront(el)
		return
	}
	e.cache[k.id] = e.lru.PushFront(k)
	for e.lru.Len() > e.cacheMax {
		old := e.lru.Back()
		e.lru.Remove(old)
		delete(e.cache, old.Value.(*envKey).id)
	}
}

// forget drops a segment's cached key after its bytes failed to check, so
// that the next read looks at the header again.
func (e *Envelope) forget(id segment.ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if el, ok := e.cache[id]; ok {
		e.lru.Remove(el)
		delete(e.cache, id)
	}
}

// --- Local key file ------------------------------------------------------

var _ KeySource = (*LocalKeys)(nil)

// LocalKeys wraps data keys with a 256-bit master key of its own, for the
// embedded default (no KMS). Wrapping is AES-256-GCM with a random 12-byte
// nonce and the segment id as additional data: random nonces stay safe for
// 2^32 wraps under one master key (NIST SP 800-38D, 8.3), four billion
// segments. The master key never leaves the process; whoever reads the key
// file reads every segment, so keep it apart from the data (another disk,
// a secrets manager), and back it up: without it the segments are lost.
type LocalKeys struct {
	aead cipher.AEAD
	id   string
}

// wrapAD is the additional data a local wrap binds besides the segment id.
const wrapAD = "strata envelope data key v1"

// NewLocalKeys makes a key source from a 32-byte master key.
func NewLocalKeys(master []byte) (*LocalKeys, error) {
	if len(master) != 32 {
		return nil, anomaly.New(anomaly.Incorrect, "local keys", "master key is %d bytes, want 32", len(master))
	}
	aead, err := newGCM(master)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "local keys", err)
	}
	sum := sha256.Sum256(append([]byte("strata envelope key id\x00"), master...))
	return &LocalKeys{aead: aead, id: "local:" + hex.EncodeToString(sum[:8])}, nil
}

// LoadLocalKeyFile reads a master key file: 64 hex digits and a newline.
// With create, a missing file is made with a fresh random key, mode 0600.
// A file that group or others may read is refused: the key opens every
// segment.
func LoadLocalKeyFile(path string, create bool) (*LocalKeys, error) {
	op := "key file " + path
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		var key [32]byte
		if _, err := rand.Read(key[:]); err != nil {
			return nil, anomaly.Wrap(anomaly.Fault, op, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadLocalKeyFile(path, false) // another process made it first
		}
		if err != nil {
			return nil, anomaly.Wrap(anomaly.Unavailable, op, err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key[:]) + "\n")
		serr := f.Sync()
		if cerr := f.Close(); werr == nil && serr == nil {
			werr = cerr
		}
		if err := errors.Join(werr, serr); err != nil {
			os.Remove(path)
			return nil, anomaly.Wrap(anomaly.Unavailable, op, err)
		}
		return NewLocalKeys(key[:])
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, anomaly.Wrap(anomaly.NotFound, op, err)
		}
		return nil, anomaly.Wrap(anomaly.Unavailable, op, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, op, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, anomaly.New(anomaly.Forbidden, op, "mode %04o lets others read the key; chmod 600 it", st.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, anomaly.New(anomaly.Incorrect, op, "want 64 hex digits (a 256-bit key)")
	}
	return NewLocalKeys(key)
}

// KeyID returns "local:" and a fingerprint of the master key.
func (l *LocalKeys) KeyID() string { return l.id }

// Kind returns 2 (local key file).
func (l *LocalKeys) Kind() byte { return envKindLocalFile }

// NewKey makes a random data key and wraps it.
func (l *LocalKeys) NewKey(_ context.Context, id segment.ID) (plain, wrapped []byte, keyID string, err error) {
	plain = make([]byte, envDataKeyBytes)
	nonce := make([]byte, l.aead.NonceSize(), l.aead.NonceSize()+envDataKeyBytes+l.aead.Overhead())
	if _, err := rand.Read(plain); err != nil {
		return nil, nil, "", anomaly.Wrap(anomaly.Fault, "local keys", err)
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, "", anomaly.Wrap(anomaly.Fault, "local keys", err)
	}
	return plain, l.aead.Seal(nonce, nonce, plain, localAD(id)), l.id, nil
}

// OpenKey unwraps a data key wrapped by NewKey for segment id.
func (l *LocalKeys) OpenKey(_ context.Context, id segment.ID, keyID string, wrapped []byte) ([]byte, error) {
	op := "open data key of " + id.Short()
	if keyID != l.id {
		return nil, anomaly.Wrap(anomaly.Fault, op, fmt.Errorf("%w: sealed with %s, this store has %s", ErrWrongKey, keyID, l.id))
	}
	ns := l.aead.NonceSize()
	if len(wrapped) < ns+l.aead.Overhead() {
		return nil, envCorrupt(id, envFixedHeader, "wrapped key of %d bytes is too short", len(wrapped))
	}
	plain, err := l.aead.Open(nil, wrapped[:ns], wrapped[ns:], localAD(id))
	if err != nil {
		return nil, envCorrupt(id, envFixedHeader, "the wrapped data key does not authenticate (altered, or another segment's)")
	}
	return plain, nil
}

func localAD(id segment.ID) []byte { return append([]byte(wrapAD), id[:]...) }

package cachetiers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

func testLocalKeys(t *testing.T) *LocalKeys {
	t.Helper()
	keys, err := LoadLocalKeyFile(filepath.Join(t.TempDir(), "segments.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func newDirEnvelope(t *testing.T, keys KeySource, chunk int) (*Envelope, *DirStore) {
	t.Helper()
	dir, err := NewDirStore(DirStoreOptions{Dir: t.TempDir(), AllowRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	env, err := NewEnvelope(dir, EnvelopeOptions{Keys: keys, ChunkBytes: chunk})
	if err != nil {
		t.Fatal(err)
	}
	return env, dir
}

// The Tier contract holds through the envelope, with small chunks (so that
// ranges cross many chunk boundaries) and with the default.
func TestEnvelopeConformance(t *testing.T) {
	for _, chunk := range []int{4096, DefaultEnvelopeChunkBytes} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			keys := testLocalKeys(t)
			testTierConformance(t, func(t *testing.T) Tier {
				env, _ := newDirEnvelope(t, keys, chunk)
				return env
			})
		})
	}
}

// plaintextMarker is a run of bytes that must never reach the store.
var plaintextMarker = []byte("strata-plaintext-marker:[:db/ident :person/name]")

func markedSegment(size int) []byte {
	var b bytes.Buffer
	for b.Len() < size {
		b.Write(plaintextMarker)
	}
	return b.Bytes()[:size]
}

// No plaintext at rest: the raw file holds none of the segment's bytes,
// and the envelope reads them back.
func TestEnvelopeNoPlaintextInFiles(t *testing.T) {
	env, dir := newDirEnvelope(t, testLocalKeys(t), 0)
	ctx := context.Background()
	for _, size := range []int{0, 1, 100, 64 << 10, 64<<10 + 1, 300 << 10} {
		id := segment.NewID()
		data := markedSegment(size)
		mustPut(t, env, id, data)
		raw, err := os.ReadFile(dir.Path(id))
		if err != nil {
			t.Fatal(err)
		}
		if want := envSealedSize(int64(size), 16); int64(len(raw)) != want {
			t.Fatalf("size %d: the file is %d bytes, want %d", size, len(raw), want)
		}
		if size >= 16 && bytes.Contains(raw, data[:16]) {
			t.Fatalf("size %d: the file holds plaintext", size)
		}
		if bytes.Contains(raw, []byte("strata-plaintext")) {
			t.Fatalf("size %d: the file holds the marker", size)
		}
		got := make([]byte, size)
		if n, total, err := env.ReadAt(ctx, id, got, 0); err != nil || n != size || total != int64(size) || !bytes.Equal(got, data) {
			t.Fatalf("size %d: ReadAt = %d, %d, %v, equal %v", size, n, total, err, bytes.Equal(got, data))
		}
	}
}

// Every alteration of the stored bytes is corruption, never wrong bytes.
func TestEnvelopeTamper(t *testing.T) {
	ctx := context.Background()
	const size = 3*4096 + 77
	for _, tc := range []struct {
		name   string
		modify func(t *testing.T, path string, raw []byte)
	}{
		{"chunk byte", func(t *testing.T, path string, raw []byte) { raw[envHeaderSize+4096+100] ^= 1; rewrite(t, path, raw) }},
		{"tag byte", func(t *testing.T, path string, raw []byte) { raw[len(raw)-1] ^= 0x80; rewrite(t, path, raw) }},
		{"header byte", func(t *testing.T, path string, raw []byte) { raw[9] ^= 1; rewrite(t, path, raw) }},
		{"header size and checksum", func(t *testing.T, path string, raw []byte) {
			// A consistent header for a shorter segment, truncated at a
			// chunk boundary: the checksum passes, authentication does not.
			h := raw[:envHeaderSize]
			putUint64(h[8:16], 2*4096)
			putUint32(h[envHeaderCRCAt:], crc32c(h[:envHeaderCRCAt]))
			rewrite(t, path, raw[:envSealedSize(2*4096, 12)])
		}},
		{"truncated", func(t *testing.T, path string, raw []byte) { rewrite(t, path, raw[:len(raw)-5]) }},
		{"shorter than a header", func(t *testing.T, path string, raw []byte) { rewrite(t, path, raw[:100]) }},
		{"plaintext segment", func(t *testing.T, path string, raw []byte) { rewrite(t, path, markedSegment(size)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dir := newDirEnvelope(t, testLocalKeys(t), 4096)
			id := segment.NewID()
			mustPut(t, env, id, markedSegment(size))
			raw, err := os.ReadFile(dir.Path(id))
			if err != nil {
				t.Fatal(err)
			}
			tc.modify(t, dir.Path(id), raw)
			p := make([]byte, size)
			n, _, err := env.ReadAt(ctx, id, p, 0)
			if !errors.Is(err, segment.ErrCorrupt) || !errors.Is(err, anomaly.Fault) || n != 0 {
				t.Fatalf("ReadAt after %s: n %d, err %v; want a corruption error", tc.name, n, err)
			}
		})
	}
}

// A segment's sealed bytes under another segment's id do not open: the id
// is bound into the wrapped key and every chunk.
func TestEnvelopeSwappedSegments(t *testing.T) {
	env, dir := newDirEnvelope(t, testLocalKeys(t), 4096)
	a, b := segment.NewID(), segment.NewID()
	mustPut(t, env, a, markedSegment(5000))
	mustPut(t, env, b, bytes.Repeat([]byte{7}, 5000))
	rawA, err := os.ReadFile(dir.Path(a))
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, dir.Path(b), rawA)
	_, _, err = env.ReadAt(context.Background(), b, make([]byte, 5000), 0)
	if !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("a's bytes read as b: %v, want corruption", err)
	}
}

// Another master key cannot read the segments, and says why.
func TestEnvelopeWrongKey(t *testing.T) {
	env, dir := newDirEnvelope(t, testLocalKeys(t), 0)
	id := segment.NewID()
	mustPut(t, env, id, markedSegment(1000))
	other, err := NewEnvelope(dir, EnvelopeOptions{Keys: testLocalKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = other.ReadAt(context.Background(), id, make([]byte, 1000), 0)
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("read with another key: %v, want ErrWrongKey", err)
	}
}

// The key cache is bounded, and a segment read after its key was evicted
// still reads.
func TestEnvelopeKeyCacheBound(t *testing.T) {
	dir, err := NewDirStore(DirStoreOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	env, err := NewEnvelope(dir, EnvelopeOptions{Keys: testLocalKeys(t), KeyCacheEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	var ids []segment.ID
	for i := range 10 {
		id := segment.NewID()
		ids = append(ids, id)
		mustPut(t, env, id, bytes.Repeat([]byte{byte(i)}, 100))
	}
	for range 2 {
		for i, id := range ids {
			mustReadEqual(t, env, id, bytes.Repeat([]byte{byte(i)}, 100))
			env.mu.Lock()
			n := len(env.cache)
			env.mu.Unlock()
			if n > 3 {
				t.Fatalf("%d keys cached, bound 3", n)
			}
		}
	}
	if st := env.Stats(); st.Backend != "envelope+dir" {
		t.Fatalf("Stats().Backend = %q, want envelope+dir", st.Backend)
	}
}

func TestEnvelopeOptions(t *testing.T) {
	keys := testLocalKeys(t)
	dir, err := NewDirStore(DirStoreOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []EnvelopeOptions{{}, {Keys: keys, ChunkBytes: 1000}, {Keys: keys, ChunkBytes: 2 << 20}, {Keys: keys, ChunkBytes: 2048}} {
		if _, err := NewEnvelope(dir, opts); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("NewEnvelope(%+v): %v, want incorrect", opts, err)
		}
	}
}

func TestLocalKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if _, err := LoadLocalKeyFile(path, false); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("missing key file: %v", err)
	}
	a, err := LoadLocalKeyFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	b, err := LoadLocalKeyFile(path, true)
	if err != nil || b.KeyID() != a.KeyID() || !strings.HasPrefix(a.KeyID(), "local:") {
		t.Fatalf("reloaded key %v (%v), want %s", b, err, a.KeyID())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLocalKeyFile(path, false); !errors.Is(err, anomaly.Forbidden) {
		t.Fatalf("world-readable key file: %v, want forbidden", err)
	}
	if err := os.WriteFile(path, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLocalKeyFile(path, false); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("garbage key file: %v, want incorrect", err)
	}
}

// FuzzEnvelopeHeader: whatever a sealed segment's bytes are altered to,
// ReadAt returns an error or the original bytes, and never panics.
func FuzzEnvelopeHeader(f *testing.F) {
	f.Add(uint16(0), byte(1), uint16(0))
	f.Add(uint16(16), byte(0xff), uint16(0))
	f.Add(uint16(600), byte(1), uint16(4000))
	f.Fuzz(func(t *testing.T, at uint16, x byte, cut uint16) {
		keys, err := NewLocalKeys(bytes.Repeat([]byte{1}, 32))
		if err != nil {
			t.Fatal(err)
		}
		env, dir := newDirEnvelope(t, keys, 4096)
		id := segment.NewID()
		data := markedSegment(9000)
		mustPut(t, env, id, data)
		raw, err := os.ReadFile(dir.Path(id))
		if err != nil {
			t.Fatal(err)
		}
		raw[int(at)%len(raw)] ^= x
		raw = raw[:len(raw)-int(cut)%len(raw)]
		rewrite(t, dir.Path(id), raw)
		p := make([]byte, len(data))
		if _, _, err := env.ReadAt(context.Background(), id, p, 0); err == nil && !bytes.Equal(p, data) {
			t.Fatalf("altered bytes read without error as different plaintext")
		}
	})
}

func rewrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

func putUint32(b []byte, v uint32) {
	for i := range 4 {
		b[i] = byte(v >> (8 * i))
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// --- KMS, against moto_server --------------------------------------------

// motoEndpoint starts moto_server on a free 127.0.0.1 port for the test
// and stops it when the test ends; it skips the test when moto_server is
// not installed.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting moto_server")
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed (pip install 'moto[server]'): skipping the KMS envelope test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // moto_server binds it next; a race with another process fails the test with moto's message
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			if log.Len() < 1<<16 {
				log.WriteString(sc.Text() + "\n")
			}
			mu.Unlock()
		}
		io.Copy(io.Discard, out)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return endpoint
		}
		select {
		case werr := <-exited:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("moto_server exited: %v\n%s", werr, log.String())
		case <-time.After(50 * time.Millisecond):
			// No readiness signal but the port answering: poll it.
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within 30s: %v", endpoint, err)
		}
	}
}

// Envelope with KMS data keys (moto's KMS) over an S3 store (moto's S3):
// the objects hold no plaintext, each has its own data key bound to its
// segment, and the envelope reads them back.
func TestEnvelopeKMS(t *testing.T) {
	endpoint := motoEndpoint(t)
	ctx := context.Background()
	opts := KMSKeysOptions{KeyID: "alias/strata-test", Region: "us-east-1", Endpoint: endpoint, AccessKeyID: "testing", SecretAccessKey: "testing"}
	admin, err := NewKMSKeys(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	created, err := admin.Client().CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("strata test")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Client().CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(opts.KeyID), TargetKeyId: created.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	keys := admin // wraps under the alias; headers name the key's ARN

	store := newTestS3Store(t, s3Server{endpoint: endpoint, accessKey: "testing", secretKey: "testing"}, nil)
	env, err := NewEnvelope(store, EnvelopeOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	a, b := segment.NewID(), segment.NewID()
	data := markedSegment(200 << 10)
	mustPut(t, env, a, data)
	mustPut(t, env, b, data)
	mustReadEqual(t, env, a, data)
	// A fresh envelope (nothing cached) opens the keys through KMS again.
	cold, err := NewEnvelope(store, EnvelopeOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	tail := make([]byte, 1000)
	if n, size, err := cold.ReadAt(ctx, b, tail, -1); err != nil || n != 1000 || size != int64(len(data)) || !bytes.Equal(tail, data[len(data)-1000:]) {
		t.Fatalf("cold suffix read: %d, %d, %v", n, size, err)
	}

	raw := func(id segment.ID) []byte {
		out, err := store.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(store.Bucket()), Key: aws.String(store.Key(id))})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rawA, rawB := raw(a), raw(b)
	if bytes.Contains(rawA, plaintextMarker[:16]) || bytes.Contains(rawB, plaintextMarker[:16]) {
		t.Fatal("an S3 object holds plaintext")
	}
	if string(rawA[:4]) != envMagic || rawA[5] != envKindKMS || keyIDOf(rawA) != aws.ToString(created.KeyMetadata.Arn) {
		t.Fatalf("object header %q kind %d key %q, want the key's ARN %s", rawA[:4], rawA[5], keyIDOf(rawA), aws.ToString(created.KeyMetadata.Arn))
	}
	if bytes.Equal(rawA[envHeaderSize:envHeaderSize+64], rawB[envHeaderSize:envHeaderSize+64]) {
		t.Fatal("two segments with the same plaintext have the same ciphertext: not one key per segment")
	}
	// The wrapped key is bound to its segment by the encryption context:
	// KMS will not open a's wrapped key for b.
	if _, err := keys.OpenKey(ctx, b, keyIDOf(rawA), wrappedKeyOf(rawA)); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("a's data key opened for b: %v, want corruption", err)
	}
}

func keyIDOf(raw []byte) string {
	kl := int(raw[16]) | int(raw[17])<<8
	return string(raw[envFixedHeader : envFixedHeader+kl])
}

func wrappedKeyOf(raw []byte) []byte {
	kl, wl := int(raw[16])|int(raw[17])<<8, int(raw[18])|int(raw[19])<<8
	return raw[envFixedHeader+kl : envFixedHeader+kl+wl]
}

package cachetiers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/internal/testenv"
	"github.com/stratadb/strata/segment"
)

// s3Server is an S3-compatible endpoint for a test: gofakes3 in-process, or MinIO.
type s3Server struct {
	endpoint, accessKey, secretKey string
}

// fakeS3 starts gofakes3 in-process, behind wrap if it is not nil.
func fakeS3(t *testing.T, wrap func(http.Handler) http.Handler) s3Server {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	h := faker.Server()
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return s3Server{endpoint: ts.URL, accessKey: "test", secretKey: "test"}
}

// minioS3 returns the MinIO that `make test` started, or skips.
func minioS3(t *testing.T) s3Server {
	t.Helper()
	m := testenv.S3(t)
	return s3Server{endpoint: m.Endpoint, accessKey: m.AccessKey, secretKey: m.SecretKey}
}

// s3Servers runs f against gofakes3 and against MinIO (skipped when absent).
func s3Servers(t *testing.T, f func(t *testing.T, srv func(t *testing.T) s3Server)) {
	t.Run("gofakes3", func(t *testing.T) {
		f(t, func(t *testing.T) s3Server { return fakeS3(t, nil) })
	})
	t.Run("minio", func(t *testing.T) {
		minioS3(t) // skip the subtest up front when there is no MinIO
		f(t, minioS3)
	})
}

func (srv s3Server) options(bucket string) S3Options {
	return S3Options{
		Bucket:          bucket,
		Prefix:          "segments/",
		Endpoint:        srv.endpoint,
		UsePathStyle:    true,
		AccessKeyID:     srv.accessKey,
		SecretAccessKey: srv.secretKey,
		RequestTimeout:  10 * time.Second,
	}
}

// newTestS3Store makes a store over a fresh bucket of srv. edit may change the options.
func newTestS3Store(t *testing.T, srv s3Server, edit func(*S3Options)) *S3Store {
	t.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	opts := srv.options("strata-test-" + hex.EncodeToString(r[:]))
	if edit != nil {
		edit(&opts)
	}
	s, err := NewS3Store(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewS3Store: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(opts.Bucket)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", opts.Bucket, err)
	}
	t.Cleanup(func() { deleteTestBucket(t, s) })
	return s
}

// deleteTestBucket empties and deletes the store's bucket, best effort (MinIO
// keeps buckets across tests otherwise; gofakes3 goes away with its server).
func deleteTestBucket(t *testing.T, s *S3Store) {
	ctx := context.Background()
	c, bucket := s.Client(), aws.String(s.Bucket())
	var token *string
	for {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, ContinuationToken: token})
		if err != nil {
			return
		}
		for _, o := range out.Contents {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: o.Key})
		}
		if out.IsTruncated == nil || !*out.IsTruncated {
			break
		}
		token = out.NextContinuationToken
	}
	_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket})
}

func TestS3StoreConformance(t *testing.T) {
	s3Servers(t, func(t *testing.T, srv func(t *testing.T) s3Server) {
		for _, allowRemove := range []bool{false, true} {
			name := "RemoveRefused"
			if allowRemove {
				name = "AllowRemove"
			}
			t.Run(name, func(t *testing.T) {
				testTierConformance(t, func(t *testing.T) Tier {
					return newTestS3Store(t, srv(t), func(o *S3Options) { o.AllowRemove = allowRemove })
				})
			})
		}
	})
}

// A server that ignores Range and always sends the whole object (HTTP allows
// it) must still give exactly the bytes asked for.
func TestS3StoreConformanceServerIgnoresRange(t *testing.T) {
	var ranged atomic.Int64
	srv := fakeS3(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" {
				ranged.Add(1)
				r.Header.Del("Range")
			}
			h.ServeHTTP(w, r)
		})
	})
	testTierConformance(t, func(t *testing.T) Tier { return newTestS3Store(t, srv, nil) })
	if ranged.Load() == 0 {
		t.Fatal("no ranged request reached the server; the test tested nothing")
	}
}

// The store's no-overwrite guarantee rests on the server honouring
// If-None-Match: * on PutObject. Check that it does, with a raw SDK call.
func TestS3StoreConditionalPutIsReal(t *testing.T) {
	s3Servers(t, func(t *testing.T, srv func(t *testing.T) s3Server) {
		s := newTestS3Store(t, srv(t), nil)
		ctx := context.Background()
		id := segment.NewID()
		mustPut(t, s, id, []byte("original"))
		_, err := s.Client().PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.Bucket()), Key: aws.String(s.Key(id)),
			Body: strings.NewReader("replacement"), IfNoneMatch: aws.String("*"),
		})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "PreconditionFailed" {
			t.Fatalf("raw conditional PutObject over an existing key: err = %v, want PreconditionFailed", err)
		}
		mustReadEqual(t, s, id, []byte("original"))
	})
}

func TestS3StoreKey(t *testing.T) {
	srv := s3Server{endpoint: "http://127.0.0.1:1", accessKey: "a", secretKey: "b"}
	for _, prefix := range []string{"", "segments/", "prod/db1/"} {
		opts := srv.options("bucket")
		opts.Prefix = prefix
		s, err := NewS3Store(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := segment.ParseID("7f3a0000000000000000000000000001")
		if got, want := s.Key(id), prefix+"7f/7f3a0000000000000000000000000001"; got != want {
			t.Errorf("Key with Prefix %q = %q, want %q", prefix, got, want)
		}
	}
}

func TestS3StoreZeroLengthRead(t *testing.T) {
	s := newTestS3Store(t, fakeS3(t, nil), nil)
	testZeroLengthRead(t, s)
}

// testZeroLengthRead checks ReadAt with an empty p: it reports the size
// (so a reader may use it as a stat), and still tells a missing segment and
// an offset past the end apart.
func testZeroLengthRead(t *testing.T, tier Tier) {
	t.Helper()
	ctx := context.Background()
	id := segment.NewID()
	mustPut(t, tier, id, make([]byte, 1000))
	for _, off := range []int64{0, 1000, -1} {
		n, size, err := tier.ReadAt(ctx, id, nil, off)
		if n != 0 || size != 1000 || err != nil {
			t.Errorf("ReadAt(len 0, off %d) = %d, %d, %v; want 0, 1000, nil", off, n, size, err)
		}
	}
	if _, _, err := tier.ReadAt(ctx, id, nil, 1001); !errors.Is(err, segment.ErrCorrupt) {
		t.Errorf("ReadAt(len 0, off 1001) of 1000 bytes: err = %v, want ErrCorrupt", err)
	}
	if _, _, err := tier.ReadAt(ctx, segment.NewID(), nil, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadAt(len 0) of a missing segment: err = %v, want ErrNotFound", err)
	}
}

func TestS3OptionsValidate(t *testing.T) {
	good := S3Options{Bucket: "b", Endpoint: "http://127.0.0.1:9000", AccessKeyID: "a", SecretAccessKey: "s"}
	for _, c := range []struct {
		name string
		edit func(*S3Options)
		want string // the option the error must name
	}{
		{"no bucket", func(o *S3Options) { o.Bucket = "" }, "Bucket"},
		{"bucket with slash", func(o *S3Options) { o.Bucket = "a/b" }, "Bucket"},
		{"prefix without slash", func(o *S3Options) { o.Prefix = "segments" }, "Prefix"},
		{"prefix with leading slash", func(o *S3Options) { o.Prefix = "/segments/" }, "Prefix"},
		{"endpoint without scheme", func(o *S3Options) { o.Endpoint = "127.0.0.1:9000" }, "Endpoint"},
		{"endpoint ftp", func(o *S3Options) { o.Endpoint = "ftp://host" }, "Endpoint"},
		{"key without secret", func(o *S3Options) { o.SecretAccessKey = "" }, "SecretAccessKey"},
		{"token without key", func(o *S3Options) { o.AccessKeyID, o.SecretAccessKey, o.SessionToken = "", "", "t" }, "SessionToken"},
		{"negative timeout", func(o *S3Options) { o.RequestTimeout = -time.Second }, "RequestTimeout"},
		{"negative attempts", func(o *S3Options) { o.MaxAttempts = -1 }, "MaxAttempts"},
		{"negative backoff", func(o *S3Options) { o.BackoffBase = -time.Millisecond }, "BackoffBase"},
		{"backoff max below base", func(o *S3Options) { o.BackoffBase, o.BackoffMax = time.Second, time.Millisecond }, "BackoffMax"},
		{"negative conns", func(o *S3Options) { o.MaxConnsPerHost = -1 }, "MaxConnsPerHost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := good
			c.edit(&o)
			_, err := NewS3Store(context.Background(), o)
			if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewS3Store: err = %v, want an incorrect error naming %s", err, c.want)
			}
		})
	}
	if _, err := NewS3Store(context.Background(), good); err != nil {
		t.Fatalf("NewS3Store with good options: %v", err)
	}
	// Several problems are all reported at once.
	_, err := NewS3Store(context.Background(), S3Options{Prefix: "x", MaxAttempts: -2})
	for _, name := range []string{"Bucket", "Prefix", "MaxAttempts"} {
		if !strings.Contains(fmt1(err), name) {
			t.Errorf("NewS3Store with three bad options: err = %v, does not name %s", err, name)
		}
	}
}

func fmt1(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestS3StoreMissingBucketIsNotAMiss(t *testing.T) {
	srv := fakeS3(t, nil)
	s, err := NewS3Store(context.Background(), srv.options("no-such-bucket"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.ReadAt(context.Background(), segment.NewID(), make([]byte, 10), 0)
	if errors.Is(err, ErrNotFound) || !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("ReadAt in a missing bucket: err = %v, want unavailable and not ErrNotFound", err)
	}
}

// failingOptions are fast retry settings for the failure tests.
func failingOptions(endpoint string) S3Options {
	return S3Options{
		Bucket: "b", Endpoint: endpoint, UsePathStyle: true, AccessKeyID: "a", SecretAccessKey: "s",
		RequestTimeout: 200 * time.Millisecond,
		MaxAttempts:    3,
		BackoffBase:    5 * time.Millisecond,
		BackoffMax:     20 * time.Millisecond,
	}
}

func TestS3StoreServerErrorsAreUnavailable(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		code   string
	}{
		{"500", http.StatusInternalServerError, "InternalError"},
		{"503 SlowDown", http.StatusServiceUnavailable, "SlowDown"},
		{"429", http.StatusTooManyRequests, "TooManyRequests"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(c.status)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+c.code+`</Code><Message>test</Message></Error>`)
			}))
			defer ts.Close()
			opts := failingOptions(ts.URL)
			s, err := NewS3Store(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			id := segment.NewID()

			_, _, err = s.ReadAt(ctx, id, make([]byte, 100), 0)
			if !errors.Is(err, anomaly.Unavailable) {
				t.Errorf("ReadAt: err = %v, want unavailable", err)
			}
			if got := requests.Swap(0); got != int64(opts.MaxAttempts) {
				t.Errorf("ReadAt made %d requests, want MaxAttempts = %d", got, opts.MaxAttempts)
			}
			if err := s.Put(ctx, id, []byte("x")); !errors.Is(err, anomaly.Unavailable) {
				t.Errorf("Put: err = %v, want unavailable", err)
			}
			if got := requests.Swap(0); got != int64(opts.MaxAttempts) {
				t.Errorf("Put made %d requests, want MaxAttempts = %d", got, opts.MaxAttempts)
			}
		})
	}
}

func TestS3StoreForbidden(t *testing.T) {
	var requests atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
	}))
	defer ts.Close()
	s, err := NewS3Store(context.Background(), failingOptions(ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.ReadAt(context.Background(), segment.NewID(), make([]byte, 100), 0)
	if !errors.Is(err, anomaly.Forbidden) {
		t.Errorf("ReadAt: err = %v, want forbidden", err)
	}
	if requests.Load() != 1 {
		t.Errorf("a refused request was retried: %d requests", requests.Load())
	}
}

// stallingListener accepts TCP connections and never answers, like a server
// whose process is stopped or a network that drops packets after the handshake.
func stallingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestS3StoreStallIsUnavailableWithinBound(t *testing.T) {
	opts := failingOptions(stallingListener(t))
	s, err := NewS3Store(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts = s.opts // with defaults filled
	lower := time.Duration(opts.MaxAttempts) * opts.RequestTimeout
	upper := lower + opts.maxBackoffTotal() + 2*time.Second // slack for -race on a busy 2-core machine

	for _, op := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"ReadAt", func(ctx context.Context) error {
			_, _, err := s.ReadAt(ctx, segment.NewID(), make([]byte, 4096), -1)
			return err
		}},
		{"Put", func(ctx context.Context) error { return s.Put(ctx, segment.NewID(), make([]byte, 4096)) }},
	} {
		t.Run(op.name, func(t *testing.T) {
			start := time.Now()
			err := op.do(context.Background())
			elapsed := time.Since(start)
			if !errors.Is(err, anomaly.Unavailable) {
				t.Fatalf("err = %v, want unavailable", err)
			}
			if !strings.Contains(err.Error(), "timed out") {
				t.Errorf("err = %v, want it to say the attempts timed out", err)
			}
			if elapsed < lower || elapsed > upper {
				t.Errorf("gave up after %v, want between MaxAttempts×RequestTimeout = %v and that plus backoff and slack = %v", elapsed, lower, upper)
			}
		})
	}
}

// The caller's deadline is not the store's timeout: when it ends first the
// error is interrupted, and the call returns at the deadline, not after all
// attempts.
func TestS3StoreCallerDeadlineIsInterrupted(t *testing.T) {
	opts := failingOptions(stallingListener(t))
	opts.RequestTimeout = 30 * time.Second
	s, err := NewS3Store(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = s.ReadAt(ctx, segment.NewID(), make([]byte, 10), 0)
	if !errors.Is(err, anomaly.Interrupted) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want interrupted wrapping context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("returned after %v, long after the caller's 100ms deadline", elapsed)
	}

	// Already cancelled: interrupted, whatever the server does.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := s.Put(cctx, segment.NewID(), []byte("x")); !errors.Is(err, anomaly.Interrupted) {
		t.Fatalf("Put with a cancelled ctx: err = %v, want interrupted", err)
	}
}

// flaky fails the first n GETs of objects in the given way, then passes requests through.
func flaky(n int64, mode string) (func(http.Handler) http.Handler, *atomic.Int64) {
	var failed atomic.Int64
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || strings.Count(r.URL.Path, "/") < 3 || failed.Load() >= n {
				h.ServeHTTP(w, r)
				return
			}
			failed.Add(1)
			switch mode {
			case "503":
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `<Error><Code>ServiceUnavailable</Code></Error>`)
			case "short body":
				// The real response's headers, then half its body, then a cut connection.
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				body := rec.Body.Bytes()
				w.Write(body[:len(body)/2])
				panic(http.ErrAbortHandler)
			}
		})
	}, &failed
}

func TestS3StoreRetriesThenSucceeds(t *testing.T) {
	for _, mode := range []string{"503", "short body"} {
		t.Run(mode, func(t *testing.T) {
			wrap, failed := flaky(2, mode)
			srv := fakeS3(t, wrap)
			s := newTestS3Store(t, srv, func(o *S3Options) {
				o.MaxAttempts = 3
				o.BackoffBase, o.BackoffMax = time.Millisecond, time.Millisecond
			})
			id := segment.NewID()
			data := conformanceData(id, 10000)
			mustPut(t, s, id, data)
			p := make([]byte, 5000)
			n, size, err := s.ReadAt(context.Background(), id, p, 1000)
			if err != nil || n != len(p) || size != int64(len(data)) || !bytes.Equal(p, data[1000:6000]) {
				t.Fatalf("ReadAt after %d failed attempts = %d, %d, %v (or bytes differ)", failed.Load(), n, size, err)
			}
			if failed.Load() != 2 {
				t.Fatalf("%d attempts failed, want 2", failed.Load())
			}
		})
	}
}

// With every attempt cut short, the store gives up with unavailable and never
// returns the partial bytes.
func TestS3StoreShortBodyNeverSucceeds(t *testing.T) {
	wrap, _ := flaky(1<<30, "short body")
	s := newTestS3Store(t, fakeS3(t, wrap), func(o *S3Options) {
		o.BackoffBase, o.BackoffMax = time.Millisecond, time.Millisecond
	})
	id := segment.NewID()
	mustPut(t, s, id, conformanceData(id, 10000))
	n, _, err := s.ReadAt(context.Background(), id, make([]byte, 10000), 0)
	if !errors.Is(err, anomaly.Unavailable) || n != 0 {
		t.Fatalf("ReadAt with every body cut short = n %d, err %v; want 0, unavailable", n, err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/1000", 0, 99, 1000, true},
		{"bytes 900-999/1000", 900, 999, 1000, true},
		{"bytes */1000", -1, -1, 1000, true},
		{"bytes 0-99/*", 0, 0, 0, false},
		{"0-99/1000", 0, 0, 0, false},
		{"bytes 0-99", 0, 0, 0, false},
		{"bytes a-99/1000", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		first, last, total, ok := parseContentRange(c.in)
		if ok != c.ok || (ok && (first != c.first || last != c.last || total != c.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", c.in, first, last, total, ok, c.first, c.last, c.total, c.ok)
		}
	}
}

func TestS3OptionsBackoff(t *testing.T) {
	o := S3Options{MaxAttempts: 5, BackoffBase: 10 * time.Millisecond, BackoffMax: 35 * time.Millisecond}
	want := []time.Duration{10, 20, 35, 35}
	for k := 1; k < o.MaxAttempts; k++ {
		if got := o.backoffCap(k); got != want[k-1]*time.Millisecond {
			t.Errorf("backoffCap(%d) = %v, want %v", k, got, want[k-1]*time.Millisecond)
		}
	}
	if got := o.maxBackoffTotal(); got != 100*time.Millisecond {
		t.Errorf("maxBackoffTotal = %v, want 100ms", got)
	}
}

// Sequential reads reuse one connection: each new connection costs a TCP (and
// on AWS a TLS) handshake, which would dominate a small GET. This fails if a
// response body is closed before the client has seen its end.
func TestS3StoreReusesConnections(t *testing.T) {
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(faker.Server())
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	s := newTestS3Store(t, s3Server{endpoint: ts.URL, accessKey: "a", secretKey: "s"}, nil)
	id := segment.NewID()
	data := conformanceData(id, 64<<10)
	mustPut(t, s, id, data)
	before := conns.Load()
	ctx := context.Background()
	p := make([]byte, 4096)
	for i := range 50 {
		off := int64(i * 1000)
		if i%5 == 0 {
			off = -1 // suffix reads too
		}
		if _, _, err := s.ReadAt(ctx, id, p, off); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.ReadAt(ctx, segment.NewID(), p, 0); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if n := conns.Load() - before; n > 1 {
		t.Fatalf("51 sequential reads opened %d new connections, want at most 1", n)
	}
}

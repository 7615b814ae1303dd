package cachetiers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/internal/awsconf"
	"github.com/stratadb/strata/segment"
)

var _ Tier = (*S3Store)(nil)

// Defaults for S3Options.
const (
	// DefaultS3RequestTimeout bounds one attempt (connect, request, whole
	// response body). S3 serves a small GET in tens of milliseconds at the
	// median (DESIGN.md); seconds means a stalled connection, which a fresh
	// attempt on another connection usually gets past.
	DefaultS3RequestTimeout = 5 * time.Second
	// DefaultS3MaxAttempts is the number of attempts per operation, the first included.
	DefaultS3MaxAttempts = 3
	// DefaultS3BackoffBase is the backoff before the second attempt; it doubles per attempt.
	DefaultS3BackoffBase = 50 * time.Millisecond
	// DefaultS3BackoffMax caps one backoff.
	DefaultS3BackoffMax = time.Second
	// DefaultS3MaxConnsPerHost bounds the connections to the S3 endpoint (and
	// the idle ones kept for reuse; the net/http default keeps only 2 idle).
	DefaultS3MaxConnsPerHost = 256
	// defaultS3Region is used when neither the options nor the SDK's
	// configuration (AWS_REGION, ~/.aws/config) name one: the SDK needs a
	// region to sign requests even for MinIO and other custom endpoints.
	defaultS3Region = "us-east-1"
)

// S3Options configure an S3Store. The zero value of every field but Bucket
// means "default"; withDefaults is the one place defaults are filled, and
// validate the one place bad values are rejected.
type S3Options struct {
	// Bucket holds the segments. Required. It must exist.
	Bucket string

	// Prefix is put before every key, e.g. "prod/segments/". Empty, or ending in "/".
	Prefix string

	// Region of the bucket. Default: the SDK's configuration (AWS_REGION,
	// shared config), else "us-east-1".
	Region string

	// Endpoint replaces AWS's S3 endpoint, e.g. "http://127.0.0.1:9000" for
	// MinIO. When set, request checksums are only sent where S3 requires them,
	// because S3-compatible servers differ in what trailing checksums they accept.
	Endpoint string

	// UsePathStyle addresses the bucket in the path (http://host/bucket/key)
	// rather than the host name; MinIO and gofakes3 need it.
	UsePathStyle bool

	// AccessKeyID and SecretAccessKey (and optionally SessionToken) are static
	// credentials. Both or neither: without them the SDK's default chain is
	// used (environment, shared files, the instance role).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	// RequestTimeout bounds each attempt, including reading the response
	// body. Default DefaultS3RequestTimeout.
	RequestTimeout time.Duration

	// MaxAttempts is how many times an operation is tried before it fails with
	// anomaly.Unavailable; 1 means no retries. Default DefaultS3MaxAttempts.
	MaxAttempts int

	// BackoffBase and BackoffMax shape the wait before attempt k+1 (k ≥ 1): a
	// uniformly random duration in [0, min(BackoffMax, BackoffBase·2^(k-1))),
	// "full jitter" from Marc Brooker's "Exponential Backoff And Jitter" (AWS
	// Architecture Blog, 2015), which spreads retries of many clients hitting
	// the same throttled prefix. Defaults DefaultS3BackoffBase, DefaultS3BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration

	// MaxConnsPerHost bounds the HTTP connections to the endpoint, idle ones
	// included. Default DefaultS3MaxConnsPerHost.
	MaxConnsPerHost int

	// AllowRemove lets Remove delete objects. Off by default: the store is the
	// storage of record, and only the garbage collector (or a test) deletes.
	AllowRemove bool
}

func (o S3Options) withDefaults() S3Options {
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultS3RequestTimeout
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultS3MaxAttempts
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = DefaultS3BackoffBase
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = max(DefaultS3BackoffMax, o.BackoffBase)
	}
	if o.MaxConnsPerHost == 0 {
		o.MaxConnsPerHost = DefaultS3MaxConnsPerHost
	}
	return o
}

// validate reports every bad option, each by name, in one anomaly.Incorrect error.
func (o S3Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case o.Bucket == "":
		bad("Bucket is required")
	case strings.ContainsAny(o.Bucket, "/ "):
		bad("Bucket %q: a bucket name has no '/' or spaces", o.Bucket)
	}
	if o.Prefix != "" && (strings.HasPrefix(o.Prefix, "/") || !strings.HasSuffix(o.Prefix, "/")) {
		bad("Prefix %q: must be empty or end in '/', and must not start with '/'", o.Prefix)
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("Endpoint %q: want an http:// or https:// URL with a host", o.Endpoint)
		}
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		bad("AccessKeyID and SecretAccessKey: set both or neither")
	}
	if o.SessionToken != "" && o.AccessKeyID == "" {
		bad("SessionToken needs AccessKeyID and SecretAccessKey")
	}
	if o.RequestTimeout <= 0 {
		bad("RequestTimeout %v: must be positive", o.RequestTimeout)
	}
	if o.MaxAttempts < 1 {
		bad("MaxAttempts %d: must be at least 1", o.MaxAttempts)
	}
	if o.BackoffBase < 0 {
		bad("BackoffBase %v: must not be negative", o.BackoffBase)
	}
	if o.BackoffMax < o.BackoffBase {
		bad("BackoffMax %v: must not be less than BackoffBase %v", o.BackoffMax, o.BackoffBase)
	}
	if o.MaxConnsPerHost < 1 {
		bad("MaxConnsPerHost %d: must be at least 1", o.MaxConnsPerHost)
	}
	if len(errs) > 0 {
		return anomaly.Wrap(anomaly.Incorrect, "s3 store options", errors.Join(errs...))
	}
	return nil
}

// maxBackoffTotal is the longest an operation can spend waiting between
// attempts. An operation that keeps failing returns within
// MaxAttempts·RequestTimeout + maxBackoffTotal (plus scheduling noise).
func (o S3Options) maxBackoffTotal() time.Duration {
	var total time.Duration
	for k := 1; k < o.MaxAttempts; k++ {
		total += o.backoffCap(k)
	}
	return total
}

// backoffCap is the upper bound of the wait after failed attempt k (k ≥ 1).
func (o S3Options) backoffCap(k int) time.Duration {
	d := o.BackoffBase
	for i := 1; i < k && d < o.BackoffMax; i++ {
		d *= 2
	}
	return min(d, o.BackoffMax)
}

// S3Store is the storage of record on S3 (or an S3-compatible server).
//
// Each segment is one object, written once with PutObject and If-None-Match: *
// so that an existing segment is never overwritten, and read with ranged
// GetObjects. Every operation runs at most MaxAttempts attempts, each bounded
// by RequestTimeout, with jittered exponential backoff between them (the
// SDK's own retryer is off so that a short or cut response body, which the
// SDK does not retry, is retried the same way as everything else).
//
// Errors: a missing object wraps ErrNotFound (anomaly.NotFound); a range past
// the object's end wraps segment.ErrCorrupt (anomaly.Fault); credentials the
// server refuses are anomaly.Forbidden. Network errors, 5xx, throttling and
// attempts that time out are retried, and when the attempts run out the
// error is anomaly.Unavailable. When the caller's ctx ends first the error is
// anomaly.Interrupted (and wraps ctx.Err()): the per-attempt timeout is ours
// and means the store is slow or unreachable, the caller's deadline is the
// caller's and means it stopped waiting. No error ever comes with bytes that
// are wrong or partial but reported as read.
type S3Store struct {
	opts      S3Options
	client    *s3.Client
	transport *http.Transport
}

// NewS3Store makes a store over opts.Bucket. It does not contact S3 (ctx is
// used only to load the SDK's configuration), so a missing bucket or bad
// credentials show up on the first operation.
func NewS3Store(ctx context.Context, opts S3Options) (*S3Store, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	// A BuildableClient, not a plain *http.Client: LoadDefaultConfig installs
	// AWS_CA_BUNDLE into it, and refuses a client it cannot modify.
	base := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxConnsPerHost = opts.MaxConnsPerHost
		tr.MaxIdleConnsPerHost = opts.MaxConnsPerHost
		tr.MaxIdleConns = max(tr.MaxIdleConns, opts.MaxConnsPerHost)
	})
	cfg, err := awsconf.Load(ctx, "new s3 store", awsconf.Options{Region: opts.Region, DefaultRegion: defaultS3Region,
		AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey, SessionToken: opts.SessionToken,
		HTTPClient: base, NoRetries: true})
	if err != nil {
		return nil, err
	}
	// Take the configured transport (with the CA bundle, if any) into a
	// client we own, so that Close can release its idle connections.
	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return nil, anomaly.New(anomaly.Fault, "new s3 store", "the SDK replaced the HTTP client with a %T", cfg.HTTPClient)
	}
	tr := bc.GetTransport()
	hc := &http.Client{
		Transport: tr,
		// S3 redirects (301 to the bucket's region) are errors to report, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.HTTPClient = hc
		o.UsePathStyle = opts.UsePathStyle
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 0 // ignore AWS_MAX_ATTEMPTS: retries are ours
		// Segment blocks carry their own checksums, verified by the reader; and
		// S3 returns no whole-object checksum for ranged GETs anyway.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
	})
	return &S3Store{opts: opts, client: client, transport: tr}, nil
}

// Name returns "store".
func (s *S3Store) Name() string { return "store" }

// Key returns the object key of segment id: Prefix + the id's first two hex
// digits + "/" + the id, e.g. "segments/7f/7f3a…". S3 scales request rates per
// key prefix (about 5,500 GET/s per prefix partition), partitioning the key
// space as load grows; the two-hex-digit directory gives it 256 evenly loaded
// prefixes to split on from the start (ids are random), and lets a garbage
// collector list the bucket as 256 parallel listings.
func (s *S3Store) Key(id segment.ID) string {
	h := id.String()
	return s.opts.Prefix + h[:2] + "/" + h
}

// Bucket returns the bucket's name.
func (s *S3Store) Bucket() string { return s.opts.Bucket }

// Client returns the SDK client the store uses (its own retries are off), so
// that a benchmark can measure a raw GetObject of Key(id) over the same
// connections as the reference for ReadAt.
func (s *S3Store) Client() *s3.Client { return s.client }

// ReadAt reads a byte range of segment id with one ranged GetObject (more
// only on retries); see Tier for the contract.
func (s *S3Store) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	op := "store read " + id.Short() + " at " + strconv.FormatInt(off, 10)
	key := s.Key(id)
	var n int
	var size int64
	err := s.retry(ctx, op, func(ctx context.Context) error {
		var err error
		if len(p) == 0 {
			n, size, err = s.headAttempt(ctx, op, id, key, off)
		} else {
			n, size, err = s.getAttempt(ctx, op, id, key, p, off)
		}
		return err
	})
	if err != nil {
		return 0, size, err
	}
	return n, size, nil
}

// getAttempt is one ranged GetObject of len(p) > 0 bytes.
func (s *S3Store) getAttempt(ctx context.Context, op string, id segment.ID, key string, p []byte, off int64) (int, int64, error) {
	var rng string
	if off < 0 {
		rng = "bytes=-" + strconv.Itoa(len(p))
	} else {
		rng = "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+int64(len(p))-1, 10)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.opts.Bucket, Key: &key, Range: &rng})
	if err != nil {
		cerr := s.classify(op, err)
		if !errors.Is(cerr, errInvalidRange) {
			return 0, 0, cerr
		}
		if off >= 0 {
			// The range starts at or past the end: the copy is shorter than
			// the reader's index says.
			if _, _, total, ok := parseContentRange(responseHeader(err, "Content-Range")); ok {
				return 0, total, shortSegment(op, id, off, len(p), total)
			}
			return 0, 0, anomaly.Wrap(anomaly.Fault, op, &segment.CorruptError{
				ID: id, Block: -1, Offset: off,
				Msg: fmt.Sprintf("short segment: read of %d bytes at offset %d, but the copy ends before it", len(p), off),
			})
		}
		// A suffix longer than the object: RFC 9110 says serve the whole
		// object, but some servers (gofakes3) answer 416. Read it whole.
		out, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.opts.Bucket, Key: &key})
		if err != nil {
			return 0, 0, s.classify(op, err)
		}
	}
	defer out.Body.Close()

	var start, length, size int64
	if out.ContentRange != nil {
		first, last, total, ok := parseContentRange(*out.ContentRange)
		if !ok || first < 0 || last < first || last >= total {
			return 0, 0, transient(fmt.Errorf("malformed Content-Range %q for Range %q", *out.ContentRange, rng))
		}
		size = total
		var wantFirst, wantLen int64
		if off < 0 {
			wantLen = min(int64(len(p)), total)
			wantFirst = total - wantLen
		} else {
			if off+int64(len(p)) > total {
				// S3 clamps a range that runs past the end; the copy is short.
				return 0, size, shortSegment(op, id, off, len(p), total)
			}
			wantFirst, wantLen = off, int64(len(p))
		}
		if first != wantFirst || last-first+1 != wantLen {
			return 0, size, transient(fmt.Errorf("Content-Range %q does not answer Range %q", *out.ContentRange, rng))
		}
		start, length = first, wantLen
	} else {
		// A 200 with the whole object: the server ignored the Range, or this
		// is the whole-object fallback above.
		if out.ContentLength == nil || *out.ContentLength < 0 {
			return 0, 0, transient(fmt.Errorf("response to Range %q has neither Content-Range nor Content-Length", rng))
		}
		size = *out.ContentLength
		st, l, err := resolveRange(op, id, size, len(p), off)
		if err != nil {
			return 0, size, err
		}
		if _, err := io.CopyN(io.Discard, out.Body, st); err != nil {
			return 0, size, transient(fmt.Errorf("skipping to offset %d of the body: %w", st, err))
		}
		start, length = st, int64(l)
	}
	if out.ContentLength != nil && out.ContentRange != nil && *out.ContentLength != length {
		return 0, size, transient(fmt.Errorf("Content-Length %d for a %d-byte range", *out.ContentLength, length))
	}
	if _, err := io.ReadFull(out.Body, p[:length]); err != nil {
		// The connection was cut, or the server sent fewer bytes than it
		// promised: never hand back a partial range.
		return 0, size, transient(fmt.Errorf("reading %d bytes at offset %d: %w", length, start, err))
	}
	return int(length), size, nil
}

// headAttempt serves a zero-length ReadAt: it only needs the size.
func (s *S3Store) headAttempt(ctx context.Context, op string, id segment.ID, key string, off int64) (int, int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opts.Bucket, Key: &key})
	if err != nil {
		return 0, 0, s.classify(op, err)
	}
	if out.ContentLength == nil {
		return 0, 0, transient(errors.New("HeadObject response without Content-Length"))
	}
	size := *out.ContentLength
	if _, _, err := resolveRange(op, id, size, 0, off); err != nil {
		return 0, size, err
	}
	return 0, size, nil
}

// Put writes segment id with If-None-Match: * so that S3 itself refuses to
// replace an existing object; a 412 Precondition Failed means the segment is
// already there, which is success. This also makes a retry after a lost
// response safe: it fails its condition against its own first attempt.
func (s *S3Store) Put(ctx context.Context, id segment.ID, data []byte) error {
	op := "store put " + id.Short()
	key := s.Key(id)
	return s.retry(ctx, op, func(ctx context.Context) error {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &s.opts.Bucket,
			Key:           &key,
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
			ContentType:   aws.String("application/octet-stream"),
			IfNoneMatch:   aws.String("*"),
		})
		if err == nil {
			return nil
		}
		err = s.classify(op, err)
		if errors.Is(err, errPreconditionFailed) {
			return nil
		}
		return err
	})
}

// Remove refuses with anomaly.Unsupported unless the store was made with
// AllowRemove; then it deletes the object (a missing object is not an error).
func (s *S3Store) Remove(ctx context.Context, id segment.ID) error {
	op := "store remove " + id.Short()
	if !s.opts.AllowRemove {
		return anomaly.New(anomaly.Unsupported, op,
			"the store of record does not remove segments (garbage collection does; set AllowRemove)")
	}
	key := s.Key(id)
	return s.retry(ctx, op, func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.opts.Bucket, Key: &key})
		if err == nil {
			return nil
		}
		err = s.classify(op, err)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
}

// Stats reports Backend "s3". S3 cannot cheaply say how much it holds, so
// Entries and Bytes are 0.
func (s *S3Store) Stats() TierStats { return TierStats{Backend: "s3"} }

// Close releases idle connections. Calls after Close still work, on new connections.
func (s *S3Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// retry runs attempt up to MaxAttempts times, each under its own
// RequestTimeout, with full-jitter backoff between attempts. attempt marks
// errors worth retrying with transient(); anything else ends the operation.
func (s *S3Store) retry(ctx context.Context, op string, attempt func(context.Context) error) error {
	var last error
	for k := 1; ; k++ {
		actx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		err := attempt(actx)
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil {
			return nil
		}
		var t *transientError
		if !errors.As(err, &t) {
			return err
		}
		if ctx.Err() != nil {
			return anomaly.Wrap(anomaly.Interrupted, op, fmt.Errorf("%w (attempt %d: %v)", ctx.Err(), k, t.err))
		}
		if timedOut {
			last = fmt.Errorf("attempt %d timed out after %v: %w", k, s.opts.RequestTimeout, t.err)
		} else {
			last = fmt.Errorf("attempt %d: %w", k, t.err)
		}
		if k >= s.opts.MaxAttempts {
			return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("gave up after %d attempts: %w", k, last))
		}
		if c := s.opts.backoffCap(k); c > 0 {
			timer := time.NewTimer(rand.N(c))
			select {
			case <-ctx.Done():
				timer.Stop()
				return anomaly.Wrap(anomaly.Interrupted, op, fmt.Errorf("%w (waiting to retry after %v)", ctx.Err(), last))
			case <-timer.C:
			}
		}
	}
}

// transientError marks an attempt's failure as worth another attempt.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(err error) error { return &transientError{err} }

// Outcomes that the caller of classify turns into something else.
var (
	errPreconditionFailed = errors.New("precondition failed")
	errInvalidRange       = errors.New("range not satisfiable")
)

// retryableS3Codes are S3 error codes worth another attempt besides any 5xx:
// throttling, server-side timeouts, a conditional write racing another, and a
// clock the SDK can correct.
var retryableS3Codes = map[string]bool{
	"SlowDown":                   true,
	"Throttling":                 true,
	"ThrottlingException":        true,
	"RequestLimitExceeded":       true,
	"TooManyRequestsException":   true,
	"RequestTimeout":             true,
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"OperationAborted":           true,
	"ConditionalRequestConflict": true,
	"RequestTimeTooSkewed":       true,
}

// classify turns an SDK error from one attempt into the error the attempt
// returns: transient for what a retry may fix, a categorized error otherwise.
func (s *S3Store) classify(op string, err error) error {
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case status == 0:
		// No response: connection refused or cut, DNS, the attempt's timeout,
		// credentials that could not be fetched.
		return transient(err)
	case retryableS3Codes[code], status >= 500, status == http.StatusTooManyRequests:
		return transient(err)
	case code == "NoSuchBucket":
		// Not a miss: the store itself is missing. Retrying will not help,
		// but an operator can fix it, so it is unavailable rather than a fault.
		return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("bucket %q: %w", s.opts.Bucket, err))
	case status == http.StatusNotFound:
		return anomaly.Wrap(anomaly.NotFound, op, fmt.Errorf("%w (s3://%s: %s)", ErrNotFound, s.opts.Bucket, code))
	case status == http.StatusPreconditionFailed:
		return errPreconditionFailed
	case status == http.StatusRequestedRangeNotSatisfiable:
		return errInvalidRange
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return anomaly.Wrap(anomaly.Forbidden, op, err)
	default:
		// Some other 4xx: a request the server will never accept (a bug here,
		// or a server missing a feature we rely on).
		return anomaly.Wrap(anomaly.Fault, op, err)
	}
}

// responseHeader returns a header of the HTTP response inside an SDK error, if any.
func responseHeader(err error, name string) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get(name)
	}
	return ""
}

// parseContentRange parses "bytes FIRST-LAST/TOTAL" and "bytes */TOTAL"
// (first and last are -1 then). A range that is not inside the object
// (FIRST > LAST, LAST >= TOTAL) is refused: a server that says so is broken.
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	total, err := strconv.ParseInt(tot, 10, 64)
	if err != nil || total < 0 {
		return 0, 0, 0, false
	}
	if rng == "*" {
		return -1, -1, total, true
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || first > last || last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

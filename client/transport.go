package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/edn"
)

// Signing: the node's scheme (server/auth.go), AWS Signature Version 4
// with service "strata".
const (
	signingService = "strata"
	// nonceHeader makes every signed request unique: the node refuses a
	// signature it has seen before (a replay), and two identical requests
	// signed within one second (X-Amz-Date's resolution) would otherwise
	// carry the same signature. The signer signs every header it is given.
	nonceHeader = "X-Strata-Nonce"
)

// Error is a failed call: the category (errors.Is(err, anomaly.Busy)
// matches it), the node's message, and for an error without an answer
// the cause (errors.Is(err, context.DeadlineExceeded) sees through).
type Error struct {
	Category anomaly.Category
	// Message is the node's message, or what went wrong here.
	Message string
	// Status is the answer's HTTP status; 0 when there was none.
	Status int
	// Op is the request, e.g. "POST /v1/dbs/people/q".
	Op string
	// OutcomeUnknown says that a write was sent and no answer came back:
	// it may or may not have happened. Such a write is never retried.
	OutcomeUnknown bool
	// Err is the cause, for errors without an answer.
	Err error
}

func (e *Error) Error() string {
	msg := e.Message
	if cat := e.Category.String(); !strings.HasPrefix(msg, cat+":") {
		msg = cat + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is matches the error's category.
func (e *Error) Is(target error) bool {
	c, ok := target.(anomaly.Category)
	return ok && c == e.Category
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func incorrect(format string, args ...any) error {
	return &Error{Category: anomaly.Incorrect, Message: fmt.Sprintf(format, args...)}
}

// badAnswer is an answer this client does not understand.
func badAnswer(format string, args ...any) error {
	return &Error{Category: anomaly.Fault, Message: "the node's answer: " + fmt.Sprintf(format, args...)}
}

// request is one API call.
type request struct {
	method, path string
	args         edn.Map // the body's arguments; nil: no body
	// write says that the call changes data: once sent without an answer,
	// its outcome is unknown and it is not retried.
	write bool
}

// call makes a request, retrying as the package documentation says, and
// returns the answer's fields.
func (c *Client) call(ctx context.Context, r request) (edn.Map, error) {
	op := r.method + " " + r.path
	var body []byte
	if r.args != nil {
		var err error
		if body, err = edn.ToJSON(r.args); err != nil {
			return nil, &Error{Category: anomaly.Incorrect, Op: op, Message: op + ": the arguments: " + err.Error()}
		}
	}
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		m, retry, err := c.attempt(ctx, r, op, body)
		if err == nil {
			return m, nil
		}
		if !retry || attempt >= c.cfg.MaxRetries {
			return nil, err
		}
		// Full jitter (Brooker, "Exponential Backoff And Jitter", AWS
		// Architecture Blog, 2015): clients that failed together do not
		// retry together.
		ceiling := min(c.cfg.BackoffMax, c.cfg.Backoff<<min(attempt, 30))
		wait := time.Duration(rand.Int64N(int64(ceiling) + 1))
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return nil, err // the next attempt could not finish in time
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// attempt makes one attempt: its answer, or its error and whether it may
// be retried.
func (c *Client) attempt(ctx context.Context, r request, op string, body []byte) (edn.Map, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, &Error{Category: anomaly.Interrupted, Op: op, Message: op, Err: err}
	}
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.method, c.cfg.Endpoint+r.path, bytes.NewReader(body))
	if err != nil {
		return nil, false, &Error{Category: anomaly.Incorrect, Op: op, Message: op, Err: err}
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.sign(ctx, req, body); err != nil {
		return nil, false, err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		e := &Error{Category: anomaly.Unavailable, Op: op, Message: op + ": no answer from " + c.cfg.Endpoint, Err: err}
		if ctx.Err() != nil {
			e.Category, e.Err = anomaly.Interrupted, ctx.Err()
		}
		if r.write && sent.Load() {
			e.OutcomeUnknown = true
			e.Message = op + ": sent, but no answer came back: the outcome is unknown (check before retrying)"
			return nil, false, e
		}
		return nil, e.Category != anomaly.Interrupted, e
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseSize+1))
	if err == nil && int64(len(raw)) > c.cfg.MaxResponseSize {
		return nil, false, &Error{Category: anomaly.Unsupported, Status: resp.StatusCode, Op: op,
			Message: fmt.Sprintf("%s: the answer is over the client's limit of %d bytes (MaxResponseSize; page or limit the read)", op, c.cfg.MaxResponseSize)}
	}
	if err != nil {
		e := &Error{Category: anomaly.Unavailable, Status: resp.StatusCode, Op: op, Message: op + ": the answer was cut off", Err: err}
		if ctx.Err() != nil {
			e.Category, e.Err = anomaly.Interrupted, ctx.Err()
		}
		if r.write {
			e.OutcomeUnknown = true
			e.Message = fmt.Sprintf("%s: the answer (status %d) was cut off: the outcome is unknown (check before retrying)", op, resp.StatusCode)
			return nil, false, e
		}
		return nil, e.Category != anomaly.Interrupted, e
	}
	if resp.StatusCode == http.StatusOK {
		v, err := edn.FromJSON(raw)
		if err != nil {
			return nil, false, badAnswer("%s: %v", op, err)
		}
		m, ok := v.(edn.Map)
		if !ok {
			return nil, false, badAnswer("%s: not a map but %T", op, v)
		}
		return m, false, nil
	}
	e, fromStrata := errorOf(resp.StatusCode, raw, op)
	if !e.Category.Retryable() || e.OutcomeUnknown {
		return nil, false, e
	}
	if r.write && !fromStrata && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		// A gateway's 502 or 504: it may have passed the write on.
		e.OutcomeUnknown = true
		e.Message += " (a gateway's answer: the write's outcome is unknown; check before retrying)"
		return nil, false, e
	}
	return nil, true, e
}

// errorOf reads an error answer: the node's {"category", "message"}, or
// for another server's answer a category by its status. fromStrata says
// that a node answered.
func errorOf(status int, raw []byte, op string) (*Error, bool) {
	if v, err := edn.FromJSON(raw); err == nil {
		if m, ok := v.(edn.Map); ok {
			name, _ := get(m, "category").(string)
			msg, _ := get(m, "message").(string)
			if cat, ok := anomaly.Parse(name); ok {
				// The node says when a write may have happened anyway.
				unknown := get(m, "outcome") == "unknown"
				return &Error{Category: cat, Message: msg, Status: status, Op: op, OutcomeUnknown: unknown}, true
			}
		}
	}
	var cat anomaly.Category
	switch status {
	case http.StatusBadRequest:
		cat = anomaly.Incorrect
	case http.StatusUnauthorized, http.StatusForbidden:
		cat = anomaly.Forbidden
	case http.StatusNotFound:
		cat = anomaly.NotFound
	case http.StatusConflict:
		cat = anomaly.Conflict
	case http.StatusTooManyRequests:
		cat = anomaly.Busy
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		cat = anomaly.Unavailable
	case http.StatusGatewayTimeout:
		cat = anomaly.Interrupted
	case http.StatusNotImplemented:
		cat = anomaly.Unsupported
	default:
		cat = anomaly.Fault
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return &Error{Category: cat, Status: status, Op: op, Message: fmt.Sprintf("%s: HTTP %d %s", op, status, text)}, false
}

// sign signs req (whose body is body) with the configured key, if any:
// SigV4 over the payload's SHA-256, dated now, with a fresh nonce.
func (c *Client) sign(ctx context.Context, req *http.Request, body []byte) error {
	if c.cfg.KeyID == "" {
		return nil
	}
	var nonce [16]byte
	crand.Read(nonce[:])
	req.Header.Set(nonceHeader, hex.EncodeToString(nonce[:]))
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	creds := aws.Credentials{AccessKeyID: c.cfg.KeyID, SecretAccessKey: c.cfg.Secret}
	if err := c.signer.SignHTTP(ctx, creds, req, payload, signingService, c.cfg.Region, time.Now().UTC()); err != nil {
		return &Error{Category: anomaly.Fault, Message: "signing the request", Err: err}
	}
	return nil
}

// get returns the value of a string key of m (nil if none).
func get(m edn.Map, key string) any {
	v, _ := m.Get(key)
	return v
}

// field returns the value of key in an answer, of type T.
func field[T any](m edn.Map, key string) (T, error) {
	var zero T
	v, ok := m.Get(key)
	if !ok {
		return zero, badAnswer("no %q", key)
	}
	x, ok := v.(T)
	if !ok {
		return zero, badAnswer("%q is %T, not %T", key, v, zero)
	}
	return x, nil
}

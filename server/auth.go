package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/transactor"
)

// Request signing: every request but /health, /ready and /metrics carries
// an AWS Signature Version 4 (HMAC-SHA256) made with an access key and
// secret from `strata keys create` (kept in the catalog), service
// "strata", the node's signing region. The node recomputes the signature
// over the headers the request says it signed, with aws-sdk-go-v2's signer,
// and refuses with forbidden: a request without a signature (unless the
// node allows unsigned loopback requests), a signature that does not match,
// a key that is unknown, revoked, read-only for a write or limited to other
// databases, a date more than MaxSkew from the node's clock, and a
// signature seen before (a replay). Two identical requests signed in the
// same second would carry the same signature: clients add a random header
// to what they sign (the Go client's X-Strata-Nonce), which the node checks
// like any other signed header.

// Signing constants.
const (
	SigningService = "strata"
	// MaxSkew is how far a request's X-Amz-Date may be from the node's
	// clock.
	MaxSkew   = 5 * time.Minute
	amzDate   = "X-Amz-Date"
	algorithm = "AWS4-HMAC-SHA256"
)

// SigningRegion is the region requests to a node with config region are
// signed for ("local" when it names none).
func SigningRegion(region string) string {
	if region == "" {
		return "local"
	}
	return region
}

// authorizer checks signatures, with a short cache of keys and the
// signatures seen within the skew window.
type authorizer struct {
	catalog   transactor.Catalog
	region    string
	unsigned  bool // unsigned requests from loopback are let in
	now       func() time.Time
	keyTTL    time.Duration
	mu        sync.Mutex
	keys      map[string]cachedKey
	seen      map[string]time.Time // signature -> when it may be forgotten
	lastPrune time.Time
}

type cachedKey struct {
	key     transactor.APIKey
	err     error
	fetched time.Time
}

func newAuthorizer(cat transactor.Catalog, region string, unsigned bool) *authorizer {
	return &authorizer{catalog: cat, region: SigningRegion(region), unsigned: unsigned, now: time.Now, keyTTL: 2 * time.Second,
		keys: map[string]cachedKey{}, seen: map[string]time.Time{}}
}

func forbidden(format string, args ...any) error {
	return anomaly.New(anomaly.Forbidden, "signature", format, args...)
}

// check authorizes r (whose body is raw) for an operation on database db
// ("" for none), a write or not. It returns the key's id ("" for an
// unsigned loopback request).
func (a *authorizer) check(ctx context.Context, r *http.Request, raw []byte, db string, write bool) (string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if a.unsigned && isLoopback(r.RemoteAddr) {
			return "", nil
		}
		return "", forbidden("the request is not signed (sign it with an access key: strata keys create)")
	}
	cred, signedHeaders, sig, err := parseAuthorization(auth)
	if err != nil {
		return "", err
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[3] != SigningService {
		return "", forbidden("credential scope %q: want KEY/DATE/REGION/%s/aws4_request", cred, SigningService)
	}
	keyID, date, region := parts[0], parts[1], parts[2]
	if region != a.region {
		return "", forbidden("signed for region %q; this node's signing region is %q", region, a.region)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get(amzDate))
	if err != nil {
		return "", forbidden("X-Amz-Date %q: want YYYYMMDDTHHMMSSZ", r.Header.Get(amzDate))
	}
	if !strings.HasPrefix(r.Header.Get(amzDate), date) {
		return "", forbidden("the credential's date %s is not X-Amz-Date's", date)
	}
	now := a.now()
	if d := now.Sub(when); d > MaxSkew || d < -MaxSkew {
		return "", forbidden("X-Amz-Date %s is %s from the node's clock (at most %s): expired, or a clock to fix", when.Format(time.RFC3339), d.Round(time.Second), MaxSkew)
	}
	key, err := a.key(ctx, keyID)
	if err != nil {
		return "", err
	}
	// Recompute the signature over what the request says it signed.
	sum := sha256.Sum256(raw)
	payload := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payload {
		return "", forbidden("X-Amz-Content-Sha256 does not match the body")
	}
	clone, err := http.NewRequestWithContext(ctx, r.Method, r.URL.String(), nil)
	if err != nil {
		return "", forbidden("request URL: %v", err)
	}
	clone.Host = r.Host
	for _, h := range strings.Split(signedHeaders, ";") {
		switch h {
		case "host":
		case "content-length":
			clone.ContentLength = int64(len(raw))
		default:
			if vs := r.Header.Values(h); len(vs) > 0 {
				clone.Header[http.CanonicalHeaderKey(h)] = vs
			}
		}
	}
	signer := v4.NewSigner()
	if err := signer.SignHTTP(ctx, aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}, clone, payload, SigningService, region, when); err != nil {
		return "", anomaly.Wrap(anomaly.Fault, "signature", err)
	}
	_, wantHeaders, want, err := parseAuthorization(clone.Header.Get("Authorization"))
	if err != nil {
		return "", anomaly.Wrap(anomaly.Fault, "signature", err)
	}
	if wantHeaders != signedHeaders || subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return "", forbidden("the signature does not match (wrong secret, or the request changed after signing)")
	}
	if !key.Active(now) {
		return "", forbidden("key %s was revoked", key.ID)
	}
	if !key.Allows(db, write) {
		if write && key.ReadOnly {
			return "", forbidden("key %s is read-only", key.ID)
		}
		return "", forbidden("key %s may not use database %q", key.ID, db)
	}
	if err := a.fresh(sig, when, now); err != nil {
		return "", err
	}
	return key.ID, nil
}

// fresh records a signature, refusing one already seen.
func (a *authorizer) fresh(sig string, when, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastPrune) > time.Minute {
		for s, until := range a.seen {
			if now.After(until) {
				delete(a.seen, s)
			}
		}
		a.lastPrune = now
	}
	if _, dup := a.seen[sig]; dup {
		return forbidden("this signed request was seen before (a replay): sign every request anew")
	}
	a.seen[sig] = when.Add(MaxSkew + time.Minute)
	return nil
}

// key returns a key from the catalog, cached for keyTTL (so a revocation
// takes effect within it).
func (a *authorizer) key(ctx context.Context, id string) (transactor.APIKey, error) {
	a.mu.Lock()
	c, ok := a.keys[id]
	a.mu.Unlock()
	if ok && a.now().Sub(c.fetched) < a.keyTTL {
		return c.key, c.err
	}
	k, err := a.catalog.GetKey(ctx, id)
	if err != nil {
		if anomaly.CategoryOf(err) == anomaly.NotFound {
			err = forbidden("unknown access key %s", id)
		} else {
			return k, err // not cached: the catalog may be back soon
		}
	}
	a.mu.Lock()
	if len(a.keys) > 10_000 {
		a.keys = map[string]cachedKey{}
	}
	a.keys[id] = cachedKey{key: k, err: err, fetched: a.now()}
	a.mu.Unlock()
	return k, err
}

// parseAuthorization splits an Authorization header of AWS4-HMAC-SHA256.
func parseAuthorization(h string) (cred, signedHeaders, sig string, err error) {
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return "", "", "", forbidden("Authorization: want %s", algorithm)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			sig = v
		}
	}
	if cred == "" || signedHeaders == "" || sig == "" || !bytes.Contains([]byte(";"+signedHeaders+";"), []byte(";host;")) {
		return "", "", "", forbidden("Authorization: want Credential, SignedHeaders (with host) and Signature")
	}
	return cred, signedHeaders, sig, nil
}

// isLoopback reports whether a remote address (ip:port) is loopback.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

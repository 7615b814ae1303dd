package transactor

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratadb/strata/anomaly"
)

// APIKey is a credential for the node server, in the shape AWS Signature
// V4 uses: an access key id that requests carry in the clear, and a secret
// that the client signs them with. To check a signature the server
// recomputes the HMAC, so it needs the secret itself, not a hash of it:
// the catalog stores secrets, and is as sensitive as the keys in it.
//
// A key names databases, not ids: a key limited to "orders" also reaches
// a database created as "orders" after the first was deleted.
type APIKey struct {
	ID       string `json:"id"`
	Secret   string `json:"secret"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	// DBs are the names of the databases the key reaches; empty: every
	// database.
	DBs     []string  `json:"databases,omitempty"`
	Created time.Time `json:"created"`
	// Revoked is when the key was revoked; zero: it is active.
	Revoked time.Time `json:"revoked,omitzero"`
	// Note says what the key is for, for the people who list keys.
	Note string `json:"note,omitempty"`
}

// Limits of API keys.
const (
	MaxKeyDBs  = 64  // databases a key may name
	MaxKeyNote = 256 // bytes of a key's note

	// An id is 16 to 128 upper-case letters and digits (AWS's bounds for
	// access key ids), so that keys made elsewhere can be imported; the
	// ones NewAPIKey makes are keyIDPrefix and 18 base32 characters, 20 in
	// all, like AWS's.
	minKeyID    = 16
	maxKeyID    = 128
	keyIDPrefix = "SK"
	keyIDRandom = 18 // base32 characters: 90 random bits
	// A secret is 32 to 128 printable ASCII characters without spaces:
	// long enough not to be guessed, and safe in a client's configuration
	// file or environment. NewAPIKey's are 40 characters of URL-safe
	// base64: 240 random bits.
	minKeySecret   = 32
	maxKeySecret   = 128
	keySecretBytes = 30
)

// NewAPIKey makes a key with a fresh id and secret from crypto/rand,
// created now. dbs limits it to those databases (empty: every database);
// they are kept sorted, without repeats.
func NewAPIKey(readOnly bool, dbs []string, note string) (APIKey, error) {
	var sb [keySecretBytes]byte
	rand.Read(sb[:]) // never fails (crypto/rand, since Go 1.24)
	k := APIKey{
		// rand.Text is 26 characters of upper-case base32.
		ID:       keyIDPrefix + rand.Text()[:keyIDRandom],
		Secret:   base64.RawURLEncoding.EncodeToString(sb[:]),
		ReadOnly: readOnly,
		Created:  time.Now().UTC(),
		Note:     note,
	}
	if len(dbs) > 0 {
		k.DBs = slices.Compact(slices.Sorted(slices.Values(dbs)))
	}
	if err := validAPIKey(k); err != nil {
		return APIKey{}, err
	}
	return k, nil
}

// Active reports whether k is usable at now: not revoked at or before now.
func (k APIKey) Active(now time.Time) bool {
	return k.Revoked.IsZero() || now.Before(k.Revoked)
}

// Allows reports whether k may read (write false) or write database db.
// It does not look at revocation: callers check Active too. A request
// that touches no one database (listing them, creating one) passes db ""
// and is allowed only to keys without a database limit.
func (k APIKey) Allows(db string, write bool) bool {
	if write && k.ReadOnly {
		return false
	}
	return len(k.DBs) == 0 || db != "" && slices.Contains(k.DBs, db)
}

// String describes k without its secret, so that a key printed with %v
// or logged does not leak it.
func (k APIKey) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "key %s", k.ID)
	if k.ReadOnly {
		b.WriteString(" read-only")
	}
	if len(k.DBs) > 0 {
		fmt.Fprintf(&b, " databases %s", strings.Join(k.DBs, ","))
	}
	if !k.Revoked.IsZero() {
		fmt.Fprintf(&b, " revoked %s", k.Revoked.Format(time.RFC3339))
	}
	if k.Note != "" {
		fmt.Fprintf(&b, " (%s)", k.Note)
	}
	return b.String()
}

// validKeyID checks a key id: 16 to 128 characters from A-Z and 0-9.
func validKeyID(id string) error {
	if len(id) > maxKeyID {
		return anomaly.New(anomaly.Incorrect, "api key", "id of %d characters: want %d to %d", len(id), minKeyID, maxKeyID)
	}
	if len(id) < minKeyID {
		return anomaly.New(anomaly.Incorrect, "api key", "id %q: want %d to %d characters", id, minKeyID, maxKeyID)
	}
	for _, c := range []byte(id) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return anomaly.New(anomaly.Incorrect, "api key", "id %q: only upper-case letters and digits are allowed", id)
		}
	}
	return nil
}

// validAPIKey checks a key before it is stored; errors name the key and
// what is wrong, never the secret.
func validAPIKey(k APIKey) error {
	if err := validKeyID(k.ID); err != nil {
		return err
	}
	if len(k.Secret) < minKeySecret || len(k.Secret) > maxKeySecret {
		return anomaly.New(anomaly.Incorrect, "api key", "%s: secret of %d characters: want %d to %d", k.ID, len(k.Secret), minKeySecret, maxKeySecret)
	}
	for _, c := range []byte(k.Secret) {
		if c <= ' ' || c > '~' {
			return anomaly.New(anomaly.Incorrect, "api key", "%s: secret: only printable ASCII without spaces is allowed", k.ID)
		}
	}
	if len(k.DBs) > MaxKeyDBs {
		return anomaly.New(anomaly.Incorrect, "api key", "%s: %d databases: want at most %d", k.ID, len(k.DBs), MaxKeyDBs)
	}
	for _, db := range k.DBs {
		if err := validName(db); err != nil {
			msg := err.Error()
			if e, ok := errors.AsType[*anomaly.Error](err); ok {
				msg = e.Msg // without validName's own "incorrect: database name"
			}
			return anomaly.New(anomaly.Incorrect, "api key", "%s: database name %s", k.ID, msg)
		}
	}
	if len(k.Note) > MaxKeyNote {
		return anomaly.New(anomaly.Incorrect, "api key", "%s: note of %d bytes: want at most %d", k.ID, len(k.Note), MaxKeyNote)
	}
	// DynamoDB refuses strings that are not UTF-8, and encoding/json would
	// replace the bad bytes: refuse them here, in both catalogs alike.
	if !utf8.ValidString(k.Note) {
		return anomaly.New(anomaly.Incorrect, "api key", "%s: note is not UTF-8", k.ID)
	}
	if k.Created.IsZero() {
		return anomaly.New(anomaly.Incorrect, "api key", "%s: no creation time", k.ID)
	}
	return nil
}

// validRevocation checks RevokeKey's arguments: a zero time would leave
// the key active.
func validRevocation(id string, now time.Time) error {
	if err := validKeyID(id); err != nil {
		return err
	}
	if now.IsZero() {
		return anomaly.New(anomaly.Incorrect, "revoke api key", "%s: no revocation time", id)
	}
	return nil
}

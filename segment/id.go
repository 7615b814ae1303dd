package segment

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// ID names an immutable segment. IDs are 128 random bits, so two writers never
// pick the same one and an ID is never reused (DESIGN.md, invariants).
type ID [16]byte

// NewID returns a fresh random ID.
func NewID() ID {
	var id ID
	if _, err := rand.Read(id[:]); err != nil {
		// crypto/rand.Read never returns an error on Linux since Go 1.24.
		panic("segment: crypto/rand failed: " + err.Error())
	}
	return id
}

// String returns the ID as 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for error messages.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero ID, which names no segment.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the 32-hex-digit form printed by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("segment id %q: want %d hex digits, have %d", s, 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("segment id %q: %w", s, err)
	}
	return id, nil
}

// MarshalText encodes id as String does (for JSON catalogs).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the form MarshalText writes.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

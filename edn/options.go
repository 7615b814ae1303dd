package edn

import (
	"io"
	"maps"

	"github.com/stratadb/strata/anomaly"
)

// Limits. The defaults fit transaction data of hundreds of thousands of
// datoms (100K datoms of tx data is about 10 MB) with room to spare.
const (
	// DefaultMaxDepth is the default Options.MaxDepth.
	DefaultMaxDepth = 1000
	// MaxDepthLimit is the largest Options.MaxDepth. The reader keeps its
	// stack on the heap and reads any depth, but Equal and Marshal recurse;
	// at this depth they use tens of MB of goroutine stack, far from Go's
	// 1 GB maximum.
	MaxDepthLimit = 100_000
	// DefaultMaxInputBytes is the default Options.MaxInputBytes: 64 MiB.
	DefaultMaxInputBytes = 64 << 20
	// DefaultMaxNumberDigits is the default Options.MaxNumberDigits. Go's
	// big.Int parses decimal digits in quadratic time; ten thousand digits
	// take microseconds, a megabyte of them would take seconds.
	DefaultMaxNumberDigits = 10_000
)

// TagFunc turns the value after a tag into the tagged literal's value. It
// must be safe for concurrent use if the Parser is used concurrently. An
// error it returns becomes a *SyntaxError at the tag whose Err is that error.
type TagFunc func(value any) (any, error)

// Options configure a Parser. The zero value means every default.
type Options struct {
	// MaxDepth bounds the nesting of lists, vectors, maps, sets, tags and
	// #_ discards. 0 means DefaultMaxDepth; at most MaxDepthLimit.
	MaxDepth int
	// MaxInputBytes bounds the input of Parse and ParseAll, and for a
	// Decoder each value, from its first byte to its last.
	// 0 means DefaultMaxInputBytes.
	MaxInputBytes int
	// MaxNumberDigits bounds the length of a numeric literal in bytes
	// (sign, point and exponent included). 0 means DefaultMaxNumberDigits.
	MaxNumberDigits int
	// Tags maps a tag to the function that reads its literals. A handler
	// for inst or uuid replaces the built-in one. Unregistered tags other
	// than inst and uuid read as Tagged. The map is copied by NewParser.
	Tags map[Symbol]TagFunc
}

// Parser reads EDN with a set of Options. It is immutable: one Parser may be
// used by many goroutines at once.
type Parser struct {
	maxDepth  int
	maxInput  int
	maxDigits int
	tags      map[Symbol]TagFunc // nil when empty
}

// NewParser returns a Parser with o's limits, defaults filled in, or an
// anomaly.Incorrect error if a limit is negative or too large.
func NewParser(o Options) (*Parser, error) {
	const op = "edn options"
	switch {
	case o.MaxDepth < 0 || o.MaxDepth > MaxDepthLimit:
		return nil, anomaly.New(anomaly.Incorrect, op, "MaxDepth %d is outside [0, %d]", o.MaxDepth, MaxDepthLimit)
	case o.MaxInputBytes < 0:
		return nil, anomaly.New(anomaly.Incorrect, op, "MaxInputBytes %d is negative", o.MaxInputBytes)
	case o.MaxNumberDigits < 0:
		return nil, anomaly.New(anomaly.Incorrect, op, "MaxNumberDigits %d is negative", o.MaxNumberDigits)
	}
	for tag, h := range o.Tags {
		if h == nil {
			return nil, anomaly.New(anomaly.Incorrect, op, "Tags[%s] is a nil function", tag)
		}
		if msg := checkTag(tag); msg != "" {
			return nil, anomaly.New(anomaly.Incorrect, op, "Tags: tag %q: %s", tag.String(), msg)
		}
	}
	p := &Parser{maxDepth: o.MaxDepth, maxInput: o.MaxInputBytes, maxDigits: o.MaxNumberDigits}
	if p.maxDepth == 0 {
		p.maxDepth = DefaultMaxDepth
	}
	if p.maxInput == 0 {
		p.maxInput = DefaultMaxInputBytes
	}
	if p.maxDigits == 0 {
		p.maxDigits = DefaultMaxNumberDigits
	}
	if len(o.Tags) > 0 {
		p.tags = maps.Clone(o.Tags)
	}
	return p, nil
}

var defaultParser, _ = NewParser(Options{})

// Parse reads exactly one value from data with the default Options. Only
// whitespace, commas, comments and #_ discards may follow it.
func Parse(data []byte) (any, error) { return defaultParser.Parse(data) }

// ParseAll reads every value in data with the default Options. An input of
// only whitespace and comments gives no values and no error.
func ParseAll(data []byte) ([]any, error) { return defaultParser.ParseAll(data) }

// NewDecoder returns a Decoder that reads values from r one at a time with
// the default Options.
func NewDecoder(r io.Reader) *Decoder { return defaultParser.NewDecoder(r) }

// Parse reads exactly one value from data, as the package's Parse does, with
// p's Options.
func (p *Parser) Parse(data []byte) (any, error) {
	st := p.state(data)
	defer st.release()
	if err := st.checkSize(); err != nil {
		return nil, err
	}
	v, err := st.next()
	if err == io.EOF {
		return nil, st.errorf(len(data), "expected a value, got end of input")
	}
	if err != nil {
		return nil, err
	}
	more, _ := st.skipSpace() // never incomplete: the input is complete
	if more {
		off := st.pos
		if _, err := st.next(); err != io.EOF {
			return nil, st.errorf(off, "unexpected %s after the value: expected end of input (Parse reads one value; use ParseAll or a Decoder for more)", st.describe(off))
		}
	}
	return v, nil
}

// ParseAll reads every value in data, as the package's ParseAll does, with
// p's Options.
func (p *Parser) ParseAll(data []byte) ([]any, error) {
	st := p.state(data)
	defer st.release()
	if err := st.checkSize(); err != nil {
		return nil, err
	}
	var out []any
	for {
		v, err := st.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

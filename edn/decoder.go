package edn

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// Decoder reads a stream of EDN values from an io.Reader. It belongs to one
// goroutine.
//
// It buffers the input and runs the same reader as Parse over the buffer.
// When the buffer ends inside a value, the reader stops at the start of the
// unfinished token with its stack intact, the Decoder reads more, and the
// reader resumes there: a value is scanned once however it arrives, so a
// large value over a slow pipe costs linear time. A value is returned as soon
// as its last byte is read (a closing bracket or quote), or for a number or a
// symbol at top level, when the byte after it is.
type Decoder struct {
	p     parser
	r     io.Reader
	buf   []byte
	start int   // buf[:start] has been consumed
	eof   bool  // r has returned io.EOF
	err   error // sticky: the first error, io.EOF included

	// Position of buf[start] in the stream.
	off       int64
	line, col int
}

// minRead is the smallest read the Decoder asks for.
const minRead = 32 << 10

// NewDecoder returns a Decoder reading from r with p's Options.
// MaxInputBytes bounds each value, from its first byte to its last.
func (p *Parser) NewDecoder(r io.Reader) *Decoder {
	d := &Decoder{r: r, line: 1, col: 1}
	d.p.cfg = p
	return d
}

// Decode returns the next value. At the end of the stream it returns io.EOF;
// an error from the io.Reader is returned unchanged; anything wrong with the
// input is a *SyntaxError whose position counts from the start of the stream.
// After an error, Decode returns the same error again.
func (d *Decoder) Decode() (any, error) {
	if d.err != nil {
		return nil, d.err
	}
	p := &d.p
	resume := false
	for {
		p.data = d.buf[d.start:]
		p.eof = d.eof
		p.baseOffset, p.baseLine, p.baseCol = d.off, d.line, d.col
		var v any
		var err error
		if resume {
			v, err = p.run()
		} else {
			p.pos = 0
			v, err = p.next()
		}
		if err == errIncomplete {
			start := 0
			if len(p.frames) == 0 {
				// Only whitespace and comments before p.pos: drop them, so
				// that the buffer holds the value alone.
				d.advance(p.pos)
				resume = false
			} else {
				start = p.frames[0].off
				resume = true
			}
			err := d.checkSize(start, len(d.buf)-d.start)
			if err == nil {
				err = d.fill()
			}
			if err != nil {
				d.err = err
				return nil, err
			}
			continue
		}
		if err != nil {
			d.err = err
			return nil, err
		}
		if err := d.checkSize(p.valueStart, p.pos); err != nil {
			d.err = err
			return nil, err
		}
		d.advance(p.pos)
		return v, nil
	}
}

// InputOffset returns the byte offset in the stream after the last value
// Decode returned.
func (d *Decoder) InputOffset() int64 { return d.off }

// advance consumes n bytes from buf[start:], keeping the stream position.
func (d *Decoder) advance(n int) {
	b := d.buf[d.start : d.start+n]
	if nl := bytes.Count(b, []byte{'\n'}); nl > 0 {
		d.line += nl
		d.col = 1 + utf8.RuneCount(b[bytes.LastIndexByte(b, '\n')+1:])
	} else {
		d.col += utf8.RuneCount(b)
	}
	d.off += int64(n)
	d.start += n
	if d.start == len(d.buf) {
		d.start = 0
		d.buf = d.buf[:0]
		if cap(d.buf) > 4*minRead { // do not keep the buffer of a large value
			d.buf = nil
		}
	}
}

// checkSize returns an error if the value starting at start (an offset in
// buf[d.start:]) and running to end is larger than MaxInputBytes.
func (d *Decoder) checkSize(start, end int) error {
	p := &d.p
	limit := p.cfg.maxInput
	if end-start <= limit {
		return nil
	}
	p.data = d.buf[d.start:]
	p.baseOffset, p.baseLine, p.baseCol = d.off, d.line, d.col
	return p.errorf(start+limit, "value exceeds the MaxInputBytes limit of %d", limit)
}

// fill reads more input after the unconsumed bytes, growing the buffer
// geometrically. One Read is enough: the reader resumes rather than rescans.
func (d *Decoder) fill() error {
	if d.start > 0 && d.start >= len(d.buf)/2 {
		n := copy(d.buf, d.buf[d.start:])
		d.buf = d.buf[:n]
		d.start = 0
	}
	if cap(d.buf)-len(d.buf) < minRead/2 {
		nb := make([]byte, len(d.buf), max(2*cap(d.buf), len(d.buf)+minRead))
		copy(nb, d.buf)
		d.buf = nb
	}
	for range 100 {
		n, err := d.r.Read(d.buf[len(d.buf):cap(d.buf)])
		d.buf = d.buf[:len(d.buf)+n]
		if err == io.EOF {
			d.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

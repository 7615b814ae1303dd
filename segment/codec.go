package segment

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec names the compression applied to every block of a segment. A segment
// has one codec, recorded in its header and footer.
type Codec uint8

const (
	CodecNone Codec = 0 // blocks stored as they are
	CodecLZ4  Codec = 1 // LZ4 block format (pierrec/lz4/v4), no frame
	CodecZstd Codec = 2 // one zstd frame per block (klauspost/compress/zstd), no zstd checksum
)

// String returns "none", "lz4" or "zstd".
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

func (c Codec) valid() bool { return c <= CodecZstd }

// ParseCodec returns the codec named s, as printed by String.
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "none":
		return CodecNone, nil
	case "lz4":
		return CodecLZ4, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, incorrectf("segment parse codec", "unknown codec %q (want none, lz4 or zstd)", s)
}

// zstd encoders and the decoder are built once and shared: EncodeAll and
// DecodeAll are safe for concurrent use and keep GOMAXPROCS internal states,
// so no call allocates a codec state (klauspost/compress recommends exactly
// this for many small buffers).
var (
	zstdEncoders [zstd.SpeedBestCompression + 1]struct {
		once sync.Once
		enc  *zstd.Encoder
	}
	zstdDecoderOnce sync.Once
	zstdDecoderVal  *zstd.Decoder
)

// zstdEncoder returns the shared encoder for level, which NewWriter has validated.
func zstdEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	e := &zstdEncoders[level]
	e.once.Do(func() {
		enc, err := zstd.NewWriter(nil, zstdEncoderOptions(level)...)
		if err != nil {
			panic("segment: zstd.NewWriter with constant options failed: " + err.Error())
		}
		e.enc = enc
	})
	return e.enc
}

func zstdEncoderOptions(level zstd.EncoderLevel) []zstd.EOption {
	return []zstd.EOption{
		zstd.WithEncoderLevel(level),
		// Blocks carry an xxhash64 of the stored bytes; zstd's own content
		// checksum would hash the data a second time.
		zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
	}
}

func zstdDecoderOptions() []zstd.DOption {
	return []zstd.DOption{
		zstd.WithDecoderConcurrency(0),
		// DecodeBlock passes a dst whose spare capacity is exactly the
		// block's raw length: a corrupt frame cannot make it allocate more.
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(maxRawBlockSize),
	}
}

func zstdDecoder() *zstd.Decoder {
	zstdDecoderOnce.Do(func() {
		dec, err := zstd.NewReader(nil, zstdDecoderOptions()...)
		if err != nil {
			panic("segment: zstd.NewReader with constant options failed: " + err.Error())
		}
		zstdDecoderVal = dec
	})
	return zstdDecoderVal
}

// lz4Compressors pools LZ4 compressor states (a 64 KiB hash table each).
var lz4Compressors = sync.Pool{New: func() any { return new(lz4.Compressor) }}

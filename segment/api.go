package segment

// Placeholder bodies: the exported API is final, implementations land next.

import (
	"errors"
	"fmt"

	"github.com/stratadb/strata/anomaly"
)

// Codec names the compression applied to every block of a segment.
type Codec uint8

const (
	CodecNone Codec = 0
	CodecLZ4  Codec = 1
	CodecZstd Codec = 2
)

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

// ParseCodec returns the codec named s ("none", "lz4", "zstd").
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "none":
		return CodecNone, nil
	case "lz4":
		return CodecLZ4, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, fmt.Errorf("segment: unknown codec %q (want none, lz4 or zstd)", s)
}

const (
	BlockAlign     = 4096
	FooterReadSize = 4096
)

var ErrCorrupt = errors.New("segment corrupt")

type CorruptError struct {
	ID     ID
	Block  int
	Offset int64
	Msg    string
}

func (e *CorruptError) Error() string { return "segment " + e.ID.Short() + ": " + e.Msg }
func (e *CorruptError) Is(target error) bool {
	return target == ErrCorrupt || target == anomaly.Fault
}

type WriterOptions struct {
	Codec     Codec
	BlockSize int
	ZstdLevel int
}

type Writer struct{}

func NewWriter(dst []byte, id ID, opts WriterOptions) (*Writer, error) { return nil, errTODO }
func (w *Writer) Add(key, value []byte) error                          { return errTODO }
func (w *Writer) Finish() ([]byte, error)                              { return nil, errTODO }

type BlockHandle struct {
	FirstKey  []byte
	Offset    int64
	Length    int
	RawLength int
	Records   int
}

type Index struct {
	ID      ID
	Version uint16
	Codec   Codec
	Size    int64
	Records int64
	Blocks  []BlockHandle
	LastKey []byte
}

func ParseFooter(id ID, tail []byte, size int64) (ix *Index, need int, err error) {
	return nil, 0, errTODO
}
func (ix *Index) Find(key []byte) int                 { return -1 }
func (ix *Index) BlockRange(i int) (off int64, n int) { return 0, 0 }
func DecodeBlock(ix *Index, i int, raw []byte, dst []byte) ([]byte, error) {
	return dst, errTODO
}
func Verify(id ID, seg []byte) (*Index, error) { return nil, errTODO }

type BlockIter struct{}

func NewBlockIter(decoded []byte) (*BlockIter, error) { return nil, errTODO }
func (it *BlockIter) Init(decoded []byte) error       { return errTODO }
func (it *BlockIter) SeekGE(key []byte) bool          { return false }
func (it *BlockIter) First() bool                     { return false }
func (it *BlockIter) Next() bool                      { return false }
func (it *BlockIter) Key() []byte                     { return nil }
func (it *BlockIter) Value() []byte                   { return nil }
func (it *BlockIter) Err() error                      { return nil }

type Reader struct{}

func Open(id ID, seg []byte) (*Reader, error)                       { return nil, errTODO }
func (r *Reader) Index() *Index                                     { return nil }
func (r *Reader) Get(key []byte) (value []byte, ok bool, err error) { return nil, false, errTODO }
func (r *Reader) Iter() *Iter                                       { return nil }

type Iter struct{}

func (it *Iter) SeekGE(key []byte) bool { return false }
func (it *Iter) First() bool            { return false }
func (it *Iter) Next() bool             { return false }
func (it *Iter) Key() []byte            { return nil }
func (it *Iter) Value() []byte          { return nil }
func (it *Iter) Err() error             { return nil }

var errTODO = errors.New("segment: not implemented yet")

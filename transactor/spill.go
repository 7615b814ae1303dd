package transactor

import (
	"context"
	"encoding/binary"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/segment"
)

// SegmentSpill is a SpillStore in a segment store (S3 on AWS): each blob
// is an immutable segment of 1 MiB chunks, checksummed and compressed like
// every segment, named by a fresh segment id.
type SegmentSpill struct {
	Store engine.SegmentStore
}

const spillChunk = 1 << 20

// PutBlob implements SpillStore.
func (s SegmentSpill) PutBlob(ctx context.Context, b []byte) (string, error) {
	id := segment.NewID()
	w, err := segment.NewWriter(nil, id, segment.WriterOptions{Codec: segment.CodecLZ4, BlockSize: spillChunk + 64})
	if err != nil {
		return "", err
	}
	for i := 0; i == 0 || i*spillChunk < len(b); i++ {
		var k [4]byte
		binary.BigEndian.PutUint32(k[:], uint32(i))
		if err := w.Add(k[:], b[i*spillChunk:min((i+1)*spillChunk, len(b))]); err != nil {
			return "", err
		}
	}
	seg, err := w.Finish()
	if err != nil {
		return "", err
	}
	if err := s.Store.Put(ctx, id, seg); err != nil {
		return "", err
	}
	return id.String(), nil
}

// GetBlob implements SpillStore.
func (s SegmentSpill) GetBlob(ctx context.Context, key string) ([]byte, error) {
	id, err := segment.ParseID(key)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "spilled record", err)
	}
	ix, err := s.Store.Index(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []byte
	var it segment.BlockIter
	for i := range ix.Blocks {
		blk, err := s.Store.Block(ctx, id, i)
		if err != nil {
			return nil, err
		}
		if err := it.InitBlock(ix, i, blk); err != nil {
			return nil, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			out = append(out, it.Value()...)
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

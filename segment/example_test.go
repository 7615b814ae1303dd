package segment_test

import (
	"fmt"

	"github.com/stratadb/strata/segment"
)

// The path a cache takes: one suffix read for the index, one aligned read for
// a block, then a seek inside the decoded block.
func Example() {
	id := segment.NewID()
	w, err := segment.NewWriter(nil, id, segment.WriterOptions{Codec: segment.CodecZstd, BlockSize: 1024})
	if err != nil {
		panic(err)
	}
	for i := range 1000 {
		if err := w.Add(fmt.Appendf(nil, "key%04d", i), fmt.Appendf(nil, "value %d", i)); err != nil {
			panic(err)
		}
	}
	seg, err := w.Finish()
	if err != nil {
		panic(err)
	}

	size := int64(len(seg))
	tail := seg[max(0, len(seg)-segment.FooterReadSize):]
	ix, need, err := segment.ParseFooter(id, tail, size)
	if err != nil {
		panic(err)
	}
	if need > 0 { // the index was larger than the suffix read
		if ix, _, err = segment.ParseFooter(id, seg[len(seg)-need:], size); err != nil {
			panic(err)
		}
	}

	key := []byte("key0421")
	i := ix.Find(key)
	off, n := ix.BlockRange(i) // off is a multiple of segment.BlockAlign
	block, err := segment.DecodeBlock(ix, i, seg[off:off+int64(n)], nil)
	if err != nil {
		panic(err)
	}
	var it segment.BlockIter
	if err := it.InitBlock(ix, i, block); err != nil {
		panic(err)
	}
	if it.SeekGE(key) {
		fmt.Printf("%s = %s\n", it.Key(), it.Value())
	}
	fmt.Println(ix.Records, "records,", len(ix.Blocks) > 1, off%segment.BlockAlign)
	// Output:
	// key0421 = value 421
	// 1000 records, true 0
}

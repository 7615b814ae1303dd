package cachetiers

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/stratadb/strata/iouring"
)

// ssdRecovery counts what recover found, for the log line and for tests.
type ssdRecovery struct {
	regions int   // regions with a valid header and at least one entry
	entries int   // entries indexed
	bytes   int64 // their payload bytes
	removed int   // entries skipped because Remove marked them
	torn    int   // entries skipped because their payload checksum failed
}

// recover rebuilds the index, the FIFO and the free list from the cache file
// (format: ssd_format.go). It runs inside NewSSD before the SSD is shared, so
// it needs no locks.
//
// Regions are scanned oldest generation first, so that when a segment was
// cached twice (removed, then put again) the newer copy wins.
func (s *SSD) recover(ctx context.Context) error {
	const op = "ssd recover"
	began := time.Now()
	buf := iouring.AlignedBuffer(int(s.regionSize))
	type valid struct {
		r   int
		seq uint64
	}
	var found []valid
	for r := range s.regions {
		hb := buf[:ssdBlockSize]
		if err := s.readFull(ctx, hb, int64(r)*s.regionSize); err != nil {
			return ssdReadErr(ctx, op, err)
		}
		h, err := parseSSDRegionHeader(hb)
		if err != nil || h.index != uint32(r) || h.size != uint64(s.regionSize) || h.seq == 0 {
			continue // never written, written with another RegionSize, or torn
		}
		found = append(found, valid{r, h.seq})
		s.w.nextSeq = max(s.w.nextSeq, h.seq+1)
	}
	slices.SortFunc(found, func(a, b valid) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.r, b.r))
	})

	var rec ssdRecovery
	inFIFO := make([]bool, len(s.regions))
	for _, v := range found {
		if err := s.recoverRegion(ctx, op, v.r, v.seq, buf, &rec); err != nil {
			return err
		}
		if len(s.regions[v.r].ids) > 0 {
			s.w.fifo = append(s.w.fifo, v.r)
			inFIFO[v.r] = true
			rec.regions++
		}
	}
	// Free regions are taken from the end of the list: lowest index first.
	for r := len(s.regions) - 1; r >= 0; r-- {
		if !inFIFO[r] {
			s.w.free = append(s.w.free, r)
		}
	}
	rec.entries, rec.bytes = int(s.entries.Load()), s.bytes.Load()
	s.recovery = rec
	if rec.regions > 0 || rec.torn > 0 {
		slog.Info("ssd: recovered cache", "path", s.path, "entries", rec.entries, "bytes", rec.bytes,
			"regions", rec.regions, "of", len(s.regions), "torn", rec.torn, "removed", rec.removed,
			"elapsed", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// recoverRegion follows region r's chain of entries of generation seq and
// indexes every whole one. buf holds at least a region.
func (s *SSD) recoverRegion(ctx context.Context, op string, r int, seq uint64, buf []byte, rec *ssdRecovery) error {
	base := int64(r) * s.regionSize
	s.regions[r].seq.Store(seq)
	// Read the region lazily, in chunks, as far as the chain goes.
	have := int64(0)
	ensure := func(upTo int64) error {
		for have < upTo {
			n := min(int64(ssdScanChunk), s.regionSize-have)
			if err := s.readFull(ctx, buf[have:have+n], base+have); err != nil {
				return ssdReadErr(ctx, op, err)
			}
			have += n
		}
		return nil
	}
	for c := int64(ssdBlockSize); ; {
		p := ssdPayloadAt(c)
		if p > s.regionSize {
			return nil
		}
		if err := ensure(p); err != nil {
			return err
		}
		h, err := parseSSDEntryHeader(buf[p-ssdEntryHeaderSize : p])
		if err != nil || h.region != uint32(r) || h.seq != seq || h.length > uint64(s.regionSize-p) {
			// The end of this generation's chain: what follows, if anything,
			// is an older generation's or a torn header.
			return nil
		}
		end := p + int64(h.length)
		c = end
		if h.flags&ssdEntryFlagRemoved != 0 {
			rec.removed++
			continue
		}
		if err := ensure(end); err != nil {
			return err
		}
		if xxhash.Sum64(buf[p:end]) != h.payloadHash {
			rec.torn++ // the header is whole, so the chain goes on after it
			continue
		}
		s.regions[r].ids = append(s.regions[r].ids, h.id)
		s.indexPut(h.id, ssdLoc{off: base + p, length: int64(h.length), seq: seq, region: uint32(r)})
	}
}

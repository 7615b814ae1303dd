package transactor

import (
	"encoding/binary"
	"fmt"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// Record is one log record: the transactions of one group commit, in
// order. Its place in the log is fixed by PrevT, the t of the record before
// it (0 for the first): a log appends a record only if its head is PrevT,
// which is what keeps one history when two writers race.
type Record struct {
	PrevT datom.T
	// Writer is the token of the writer that appended the record: a retry
	// after a lost response finds its own record by it.
	Writer string
	Txs    []engine.TxEntry
}

// LastT is the t of the record's last transaction (PrevT if it has none).
func (r *Record) LastT() datom.T {
	if len(r.Txs) == 0 {
		return r.PrevT
	}
	return r.Txs[len(r.Txs)-1].T
}

// Limits of a record (bound everything: STYLE.md).
const (
	// MaxRecordBytes bounds an encoded record. A bigger group commit is cut
	// into several records; one transaction bigger than this is refused.
	MaxRecordBytes = 64 << 20
	// MaxWriterToken bounds the writer token.
	MaxWriterToken = 256
	// blockDatoms is how many datoms one block of a transaction holds.
	blockDatoms = 16 << 10

	recordVersion = 1
	recordOp      = "log record"
)

// Valid checks what every log insists on before appending r.
func (r *Record) Valid() error {
	if len(r.Writer) > MaxWriterToken {
		return anomaly.New(anomaly.Incorrect, recordOp, "writer token of %d bytes (max %d)", len(r.Writer), MaxWriterToken)
	}
	if len(r.Txs) == 0 {
		return anomaly.New(anomaly.Incorrect, recordOp, "no transactions")
	}
	prev := r.PrevT
	for i, tx := range r.Txs {
		if tx.T <= prev || tx.NextN <= uint64(tx.T) {
			return anomaly.New(anomaly.Incorrect, recordOp, "transaction %d: t %d (next %d) after t %d", i, tx.T, tx.NextN, prev)
		}
		prev = tx.T
	}
	return nil
}

// AppendRecord appends r's encoding to dst:
//
//	byte    version (1)
//	uvarint PrevT
//	uvarint len(Writer), Writer
//	uvarint number of transactions, then per transaction:
//	  uvarint T, uvarint NextN, uvarint number of blocks,
//	  per block: uvarint length, a datom block (datom.AppendBlock, EAVT)
func AppendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, uint64(r.PrevT))
	dst = binary.AppendUvarint(dst, uint64(len(r.Writer)))
	dst = append(dst, r.Writer...)
	dst = binary.AppendUvarint(dst, uint64(len(r.Txs)))
	var block []byte
	for _, tx := range r.Txs {
		dst = binary.AppendUvarint(dst, uint64(tx.T))
		dst = binary.AppendUvarint(dst, tx.NextN)
		n := (len(tx.Data) + blockDatoms - 1) / blockDatoms
		dst = binary.AppendUvarint(dst, uint64(n))
		for i := 0; i < len(tx.Data); i += blockDatoms {
			block = datom.AppendBlock(block[:0], datom.EAVT, tx.Data[i:min(i+blockDatoms, len(tx.Data))])
			dst = binary.AppendUvarint(dst, uint64(len(block)))
			dst = append(dst, block...)
		}
	}
	return dst
}

// DecodeRecord decodes a record that AppendRecord made. Anything else is
// an anomaly.Incorrect error that names the offset.
func DecodeRecord(b []byte) (*Record, error) {
	d := recordDecoder{b: b}
	if v := d.byte(); d.err == nil && v != recordVersion {
		return nil, d.fail("version %d (want %d)", v, recordVersion)
	}
	r := &Record{PrevT: datom.T(d.uvarint())}
	wl := d.uvarint()
	if d.err == nil && wl > MaxWriterToken {
		return nil, d.fail("writer token of %d bytes", wl)
	}
	r.Writer = string(d.bytes(wl))
	ntx := d.uvarint()
	if d.err == nil && ntx > uint64(len(b)) {
		return nil, d.fail("%d transactions in %d bytes", ntx, len(b))
	}
	for i := uint64(0); i < ntx && d.err == nil; i++ {
		tx := engine.TxEntry{T: datom.T(d.uvarint()), NextN: d.uvarint()}
		nb := d.uvarint()
		if d.err == nil && nb > uint64(len(b)) {
			return nil, d.fail("%d blocks in %d bytes", nb, len(b))
		}
		for j := uint64(0); j < nb && d.err == nil; j++ {
			bl := d.uvarint()
			at := d.off
			block := d.bytes(bl)
			if d.err != nil {
				break
			}
			var err error
			if tx.Data, err = datom.DecodeBlock(datom.EAVT, block, tx.Data); err != nil {
				return nil, anomaly.Wrap(anomaly.Incorrect, fmt.Sprintf("%s: block at offset %d", recordOp, at), err)
			}
		}
		r.Txs = append(r.Txs, tx)
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(b) {
		return nil, d.fail("%d bytes after the record", len(b)-d.off)
	}
	if err := r.Valid(); err != nil {
		return nil, err
	}
	return r, nil
}

type recordDecoder struct {
	b   []byte
	off int
	err error
}

func (d *recordDecoder) fail(format string, args ...any) error {
	if d.err == nil {
		d.err = anomaly.New(anomaly.Incorrect, recordOp, "at offset %d: %s", d.off, fmt.Sprintf(format, args...))
	}
	return d.err
}

func (d *recordDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *recordDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *recordDecoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("%d bytes wanted, %d left", n, len(d.b)-d.off)
		return nil
	}
	out := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return out
}

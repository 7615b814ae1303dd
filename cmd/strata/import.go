package main

// strata import: loads a file of entities in batches, several
// transactions in flight, and shows progress.
//
// The pipeline: one goroutine reads items (EDN entity maps and
// [:db/add …] forms, or CSV rows made into entity maps) and cuts them into
// batches of --batch items; --parallel workers transact the batches; the
// command's goroutine collects the reports and draws progress. Batches
// wait in a channel of --parallel slots, so at most 2×parallel batches are
// in memory. On the first failure no further batch is sent, the ones in
// flight finish, and the command says up to which item everything is
// committed (rerun with --skip N).

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratadb/strata/client"
	"github.com/stratadb/strata/edn"
)

// Import's bounds.
const (
	defaultImportBatch    = 1000
	maxImportBatch        = 100_000
	defaultImportParallel = 4
	maxImportParallel     = 64
)

// progressEvery is how often progress is drawn: on a terminal, redrawn
// in place; otherwise, a line (tests shorten it).
var progressEvery = struct{ terminal, plain time.Duration }{time.Second / 4, 10 * time.Second}

func runImport(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	db := flags.String("db", "", "the database's `name` (required)")
	format := flags.String("format", "", "edn or csv (default: csv for a FILE ending in .csv, else edn)")
	var mapping listFlag
	flags.Var(&mapping, "map", "CSV: `col=:attr`[,…] maps a column to an attribute; unmapped columns are skipped\n(default: every column, whose header names its attribute, e.g. :person/name)")
	batch := flags.Int("batch", defaultImportBatch, fmt.Sprintf("`items` per transaction (at most %d)", maxImportBatch))
	parallel := flags.Int("parallel", defaultImportParallel, fmt.Sprintf("transactions in flight (at most %d; 1 keeps the file's order)", maxImportParallel))
	skip := flags.Int64("skip", 0, "skip the first `N` items (to resume an import that failed)")
	pos, code := parseArgs(c, flags, args, "--db NAME [--format edn|csv] [--map col=:attr,…] [--batch N] FILE|- [flags]",
		"Loads FILE (- for stdin) into a database, --batch items a transaction, --parallel\n"+
			"transactions in flight, and shows progress (datoms/s, and an ETA for a FILE) on stderr.\n\n"+
			"EDN: a stream of items — entity maps or [:db/add …] forms — or of vectors of them\n"+
			"(one value may be at most 64 MiB: write big files one item a line). CSV: a header\n"+
			"row, then one entity a row; each cell is read by its attribute's type (an empty\n"+
			"cell adds nothing; refs as EDN: an id, :ident or [:attr value]).\n\n"+
			"The schema must be there first (strata transact). Batches are separate transactions\n"+
			"that may commit out of order: string tempids resolve within a batch only, so refer\n"+
			"to other entities by lookup refs of unique attributes. On failure the command says how\n"+
			"many items are committed for sure; rerun with --skip N (items past N may be committed\n"+
			"too: with a :db.unique/identity attribute, they upsert).",
		"strata import --db people --format csv --map name=:person/name,age=:person/age people.csv")
	if code >= 0 {
		return code
	}
	switch {
	case *db == "":
		return failClient(c, usagef("--db is required"))
	case *batch < 1 || *batch > maxImportBatch:
		return failClient(c, usagef("--batch %d: want 1 to %d", *batch, maxImportBatch))
	case *parallel < 1 || *parallel > maxImportParallel:
		return failClient(c, usagef("--parallel %d: want 1 to %d", *parallel, maxImportParallel))
	case *skip < 0:
		return failClient(c, usagef("--skip %d must not be negative", *skip))
	}
	if err := wantArgs(pos, 1, 1, "one FILE (or - for stdin)"); err != nil {
		return failClient(c, err)
	}
	name := pos[0]
	if *format == "" {
		*format = "edn"
		if strings.HasSuffix(strings.ToLower(name), ".csv") {
			*format = "csv"
		}
	}
	if *format != "edn" && *format != "csv" {
		return failClient(c, usagef("--format %q: edn or csv", *format))
	}
	if *format == "edn" && len(mapping) > 0 {
		return failClient(c, usagef("--map is for CSV"))
	}
	in := &countingReader{r: stdin}
	var total int64 // bytes; 0: unknown
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return failClient(c, usagef("%v", err))
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			total = st.Size()
		}
		in.r = f
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	conn := cl.Conn(*db)
	var src itemSource
	if *format == "edn" {
		src = &ednSource{dec: edn.NewDecoder(bufio.NewReaderSize(in, 64<<10))}
	} else {
		if src, err = newCSVSource(ctx, conn, in, mapping); err != nil {
			return failClient(c, err)
		}
	}
	im := &importer{conn: conn, src: src, batch: *batch, parallel: *parallel, skip: *skip, in: in, total: total,
		progress: c.stderr, terminal: isTerminal(c.stderr)}
	res := im.run(ctx)
	if res.err != nil {
		fmt.Fprintf(c.stderr, "%s: %d datoms in %d transactions committed; the first %d items (of %s) are committed for sure: rerun with --skip %d\n",
			c.path, res.datoms, res.txs, res.committed, name, res.committed)
		return failClient(c, res.err)
	}
	secs := res.elapsed.Seconds()
	fmt.Fprintf(c.stdout, "imported %d items: %d datoms in %d transactions in %.1fs (%.0f datoms/s)\n",
		res.items, res.datoms, res.txs, secs, float64(res.datoms)/max(secs, 1e-9))
	return exitOK
}

// countingReader counts the bytes read, for progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// itemSource yields the items to import; io.EOF at the end.
type itemSource interface {
	next() (any, error)
}

// ednSource reads EDN items: a top-level vector of maps and vectors is a
// transaction, whose items are taken one by one; any other value is an
// item.
type ednSource struct {
	dec     *edn.Decoder
	pending []any
}

func (s *ednSource) next() (any, error) {
	for len(s.pending) == 0 {
		v, err := s.dec.Decode()
		if err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, usagef("%v", err)
		}
		if vec, ok := v.(edn.Vector); ok && isTx(vec) {
			s.pending = vec
			continue
		}
		return v, nil
	}
	v := s.pending[0]
	s.pending = s.pending[1:]
	return v, nil
}

// isTx reports whether a vector is a transaction (of maps and forms)
// rather than one [:db/add …] form.
func isTx(v edn.Vector) bool {
	for _, x := range v {
		switch x.(type) {
		case edn.Map, edn.Vector, edn.List:
		default:
			return false
		}
	}
	return true
}

// csvSource reads CSV rows as entity maps, each cell read by its
// attribute's value type.
type csvSource struct {
	r    *csv.Reader
	cols []csvColumn
	line int
}

type csvColumn struct {
	index     int
	name      string
	attr      edn.Keyword
	valueType string // e.g. "db.type/long"
}

func newCSVSource(ctx context.Context, conn *client.Conn, r io.Reader, mapping listFlag) (*csvSource, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, usagef("the CSV has no header row")
	}
	if err != nil {
		return nil, usagef("CSV: %v", err)
	}
	header = append([]string(nil), header...)
	targets := map[string]string{} // column -> attribute text
	if len(mapping) == 0 {
		for _, h := range header {
			targets[h] = h
		}
	}
	for _, m := range mapping {
		col, attr, ok := strings.Cut(m, "=")
		if !ok {
			return nil, usagef("--map %q: want col=:attr", m)
		}
		targets[strings.TrimSpace(col)] = strings.TrimSpace(attr)
	}
	types, err := attrTypes(ctx, conn)
	if err != nil {
		return nil, err
	}
	s := &csvSource{r: cr, line: 1}
	seen := map[string]bool{}
	for i, h := range header {
		text, ok := targets[h]
		if !ok {
			continue
		}
		seen[h] = true
		if !strings.HasPrefix(text, ":") {
			text = ":" + text
		}
		v, err := edn.Parse([]byte(text))
		kw, isKw := v.(edn.Keyword)
		if err != nil || !isKw {
			return nil, usagef("column %q: %q is not an attribute (want :ns/name; map columns with --map col=:attr)", h, text)
		}
		vt, ok := types[kw]
		if !ok {
			return nil, usagef("column %q: the database has no attribute %s (transact the schema first)", h, text)
		}
		s.cols = append(s.cols, csvColumn{index: i, name: h, attr: kw, valueType: vt})
	}
	for col := range targets {
		if !seen[col] {
			return nil, usagef("--map: the CSV has no column %q (its columns: %s)", col, strings.Join(header, ", "))
		}
	}
	return s, nil
}

// attrTypes returns the value type of every attribute of the database.
func attrTypes(ctx context.Context, conn *client.Conn) (map[edn.Keyword]string, error) {
	res, err := conn.DB().Q(ctx, `[:find ?ident ?type :where [?a :db/ident ?ident] [?a :db/valueType ?t] [?t :db/ident ?type]]`)
	if err != nil {
		return nil, err
	}
	out := map[edn.Keyword]string{}
	rows, _ := res.(edn.Vector)
	for _, r := range rows {
		row, ok := r.(edn.Vector)
		if !ok || len(row) != 2 {
			continue
		}
		ident, ok1 := row[0].(edn.Keyword)
		vt, ok2 := row[1].(edn.Keyword)
		if ok1 && ok2 {
			out[ident] = vt.Namespace + "/" + vt.Name
		}
	}
	return out, nil
}

func (s *csvSource) next() (any, error) {
	for {
		rec, err := s.r.Read()
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, usagef("CSV: %v", err)
		}
		s.line++
		m := make(edn.Map, 0, len(s.cols))
		for _, col := range s.cols {
			if col.index >= len(rec) || rec[col.index] == "" {
				continue
			}
			v, err := cellValue(col.valueType, rec[col.index])
			if err != nil {
				return nil, usagef("CSV line %d, column %q: %q is not a %s: %v", s.line, col.name, rec[col.index], col.valueType, err)
			}
			m = append(m, edn.Entry{Key: col.attr, Value: v})
		}
		if len(m) > 0 {
			return m, nil
		}
		// A row that adds nothing is skipped.
	}
}

// cellValue reads a CSV cell as a value of an attribute's type.
func cellValue(valueType, text string) (any, error) {
	t := strings.TrimSpace(text)
	parse := func(s string) (any, error) { return edn.Parse([]byte(s)) }
	switch valueType {
	case "db.type/string":
		return text, nil
	case "db.type/long":
		return strconv.ParseInt(t, 10, 64)
	case "db.type/bigint":
		n, ok := new(big.Int).SetString(strings.TrimSuffix(t, "N"), 10)
		if !ok {
			return nil, errors.New("not an integer")
		}
		return n, nil
	case "db.type/double", "db.type/float":
		return strconv.ParseFloat(t, 64)
	case "db.type/bigdec":
		return parse(strings.TrimSuffix(t, "M") + "M")
	case "db.type/boolean":
		return strconv.ParseBool(t)
	case "db.type/instant":
		return parse(`#inst "` + t + `"`)
	case "db.type/uuid":
		return parse(`#uuid "` + t + `"`)
	case "db.type/keyword":
		if !strings.HasPrefix(t, ":") {
			t = ":" + t
		}
		return parse(t)
	case "db.type/symbol":
		return edn.Symbol{Name: t}, nil
	}
	// Refs (an id, an :ident, a lookup ref), tuples and the rest: EDN.
	return parse(t)
}

// importer runs the pipeline.
type importer struct {
	conn     *client.Conn
	src      itemSource
	batch    int
	parallel int
	skip     int64
	in       *countingReader
	total    int64
	progress io.Writer
	terminal bool
}

// importBatch is items [first, first+n) of the input, as EDN text.
type importBatch struct {
	seq   int
	first int64
	n     int
	text  string
}

type batchResult struct {
	b      importBatch
	datoms int64
	err    error
}

type importResult struct {
	items, datoms, txs int64
	committed          int64 // every item before it is committed
	elapsed            time.Duration
	err                error
}

func (im *importer) run(ctx context.Context) importResult {
	start := time.Now()
	var stop atomic.Bool // set on the first failure: send nothing more
	work := make(chan importBatch, im.parallel)
	results := make(chan batchResult, im.parallel)
	readErr := make(chan error, 1)
	var items atomic.Int64
	go func() { readErr <- im.read(work, &stop, &items) }()
	var wg sync.WaitGroup
	for range im.parallel {
		wg.Go(func() {
			for b := range work {
				if stop.Load() {
					results <- batchResult{b: b, err: errSkipped}
					continue
				}
				rep, err := im.conn.Transact(ctx, b.text)
				r := batchResult{b: b, err: err}
				if err == nil {
					for _, d := range rep.TxData {
						if d.E != d.Tx {
							r.datoms++
						}
					}
				} else {
					stop.Store(true)
				}
				results <- r
			}
		})
	}
	go func() { wg.Wait(); close(results) }()

	res := importResult{committed: im.skip}
	// The batches done beyond the committed prefix: by seq, the index of
	// the item after the batch.
	done := map[int]int64{}
	nextSeq := 0
	tick := time.NewTicker(im.every())
	defer tick.Stop()
	drawn := false
	for results != nil {
		select {
		case r, ok := <-results:
			if !ok {
				results = nil
				break
			}
			if r.err != nil {
				if res.err == nil && r.err != errSkipped {
					res.err = fmt.Errorf("items %d to %d: %w", r.b.first+1, r.b.first+int64(r.b.n), r.err)
				}
				continue
			}
			res.datoms += r.datoms
			res.txs++
			done[r.b.seq] = r.b.first + int64(r.b.n)
			for {
				end, ok := done[nextSeq]
				if !ok {
					break
				}
				delete(done, nextSeq)
				res.committed = end
				nextSeq++
			}
		case <-tick.C:
			im.draw(start, res, items.Load())
			drawn = true
		}
	}
	if drawn && im.terminal {
		fmt.Fprint(im.progress, "\r\x1b[K")
	}
	if err := <-readErr; err != nil && res.err == nil {
		res.err = err
	}
	res.items = items.Load()
	res.elapsed = time.Since(start)
	return res
}

var errSkipped = errors.New("not sent: an earlier batch failed")

func (im *importer) every() time.Duration {
	if im.terminal {
		return progressEvery.terminal
	}
	return progressEvery.plain
}

// read cuts the items into batches until the input ends, an item is bad,
// or stop is set (a transaction failed).
func (im *importer) read(work chan<- importBatch, stop *atomic.Bool, items *atomic.Int64) error {
	defer close(work)
	var cur []any
	var first, index int64
	seq := 0
	send := func() error {
		b, err := edn.Marshal(edn.Vector(cur))
		if err != nil {
			return usagef("items %d to %d: %v", first+1, index, err)
		}
		work <- importBatch{seq: seq, first: first, n: len(cur), text: string(b)}
		seq++
		cur, first = cur[:0:0], index
		return nil
	}
	for !stop.Load() {
		v, err := im.src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// The items before the bad one are good: send them, so that
			// a rerun may skip every item before it.
			if len(cur) > 0 {
				if serr := send(); serr != nil {
					return serr
				}
			}
			return fmt.Errorf("item %d: %w", index+1, err)
		}
		index++
		if index <= im.skip {
			first = index
			continue
		}
		items.Add(1)
		cur = append(cur, v)
		if len(cur) == im.batch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(cur) > 0 && !stop.Load() {
		return send()
	}
	return nil
}

// draw shows progress: datoms, transactions, datoms/s, and with a known
// size the share read and an ETA.
func (im *importer) draw(start time.Time, res importResult, items int64) {
	elapsed := time.Since(start)
	rate := float64(res.datoms) / max(elapsed.Seconds(), 1e-9)
	line := fmt.Sprintf("import: %d items read, %d datoms in %d transactions, %.0f datoms/s", items, res.datoms, res.txs, rate)
	if read := im.in.n.Load(); im.total > 0 && read > 0 {
		frac := min(float64(read)/float64(im.total), 1)
		eta := time.Duration(float64(elapsed) * (1 - frac) / frac).Round(time.Second)
		line += fmt.Sprintf(", %.0f%%, ETA %s", 100*frac, eta)
	}
	if im.terminal {
		fmt.Fprintf(im.progress, "\r\x1b[K%s", line)
	} else {
		fmt.Fprintln(im.progress, line)
	}
}

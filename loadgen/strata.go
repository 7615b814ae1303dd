package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/client"
	"github.com/stratadb/strata/edn"
)

// Schema is the loadgen database's schema. Setup transacts it when the
// database lacks it. Every attribute is in AVET (strata indexes all).
const Schema = `[{:db/ident :loadgen/key :db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/unique :db.unique/identity
  :db/doc "The setup entity's number, 0 to N-1: reads and queries choose among them."}
 {:db/ident :loadgen/value :db/valueType :db.type/long :db/cardinality :db.cardinality/one
  :db/doc "What writes change."}
 {:db/ident :loadgen/group :db/valueType :db.type/long :db/cardinality :db.cardinality/one
  :db/doc "key mod 100 (imports: a sequence mod 100), for queries of a group."}
 {:db/ident :loadgen/payload :db/valueType :db.type/string :db/cardinality :db.cardinality/one
  :db/doc "A fixed 100-byte string, so that an entity is not all numbers."}]`

// Defaults and bounds of StrataConfig.
const (
	DefaultDB       = "loadgen"
	DefaultEntities = 10_000
	DefaultPattern  = "[*]"
	// DefaultQuery looks an entity up by its key and reads its value: an
	// AVET lookup and an EAVT read, with the key as its parameter.
	DefaultQuery   = `[:find ?v . :in $ ?k :where [?e :loadgen/key ?k] [?e :loadgen/value ?v]]`
	DefaultTxSize  = 1
	MaxTxSize      = 10_000
	DefaultBatch   = 1000
	MaxBatch       = 100_000
	groups         = 100
	payloadSize    = 100
	setupBatchSize = 1000
)

// payload is every entity's :loadgen/payload.
var payload = strings.Repeat("loadgen:", payloadSize/8) + strings.Repeat("x", payloadSize%8)

// StrataConfig says what the requests of a Strata target do.
type StrataConfig struct {
	// DB is the database's name. Default "loadgen".
	DB string
	// Setup creates the database, its schema and the entities (keys 0 to
	// Entities-1) that are missing. Without it, the database must hold
	// them already (as an earlier setup left it) when the mix reads or
	// writes them.
	Setup bool
	// Entities is the number of loadgen entities: the key space of reads,
	// writes and the default query's parameters. Default 10,000.
	Entities int
	// Pattern is the pull pattern of reads. Default "[*]".
	Pattern string
	// Query is the query workload's query; its inputs after the database
	// are one set of parameters. Default DefaultQuery.
	Query string
	// Params, if set, is a query whose result is the pool of parameter
	// sets (a collection: one parameter each; a relation: a row each)
	// that the key distribution draws from. Default: the keys 0 to
	// Entities-1, one parameter each.
	Params string
	// IDs, if set, is a query whose result is the entity ids that reads
	// pull (a collection, [:find [?e ...] …]); writes set :loadgen/value
	// on them. Default: the loadgen entities, by key.
	IDs string
	// TxSize is the datoms of one write: the chosen key's entity and the
	// ones after it. Default 1.
	TxSize int
	// Batch is the new entities of one import transaction. Default 1000.
	Batch int
	// SetupProgress, if set, is told how many entities setup has made.
	SetupProgress func(done, total int)
}

func (c StrataConfig) withDefaults() StrataConfig {
	if c.DB == "" {
		c.DB = DefaultDB
	}
	if c.Entities == 0 {
		c.Entities = DefaultEntities
	}
	if c.Pattern == "" {
		c.Pattern = DefaultPattern
	}
	if c.Query == "" {
		c.Query = DefaultQuery
	}
	if c.TxSize == 0 {
		c.TxSize = DefaultTxSize
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	return c
}

func (c StrataConfig) validate() error {
	switch {
	case c.Entities < 1 || c.Entities > MaxKeys:
		return fmt.Errorf("entities %d: want 1 to %d", c.Entities, MaxKeys)
	case c.TxSize < 1 || c.TxSize > MaxTxSize:
		return fmt.Errorf("tx size %d: want 1 to %d", c.TxSize, MaxTxSize)
	case c.Batch < 1 || c.Batch > MaxBatch:
		return fmt.Errorf("batch %d: want 1 to %d", c.Batch, MaxBatch)
	}
	for _, code := range []struct{ what, text string }{{"pattern", c.Pattern}, {"query", c.Query}, {"params", c.Params}, {"ids", c.IDs}} {
		if code.text == "" {
			continue
		}
		if _, err := edn.Parse([]byte(code.text)); err != nil {
			return fmt.Errorf("%s %q: %v", code.what, code.text, err)
		}
	}
	return nil
}

// Strata is a Target that makes its requests of a strata node through
// package client. It is safe for concurrent use.
type Strata struct {
	c    *client.Client
	conn *client.Conn
	cfg  StrataConfig
	// ids are the entities reads pull and writes change, by key.
	ids []int64
	// params are the query's parameter sets, by key; nil: the key itself.
	params [][]any
	seq    atomic.Int64 // writes' values, imports' groups
}

var _ Target = (*Strata)(nil)

// NewStrata prepares a target for mix: it sets the database up if
// cfg.Setup says so, and reads the entity ids and parameters the mix's
// operations draw from.
func NewStrata(ctx context.Context, c *client.Client, cfg StrataConfig, mix Mix) (*Strata, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, &client.Error{Category: anomaly.Incorrect, Message: err.Error()}
	}
	s := &Strata{c: c, conn: c.Conn(cfg.DB), cfg: cfg}
	needKeys := (mix.Has(OpRead) && cfg.IDs == "") || (mix.Has(OpWrite) && cfg.IDs == "") || (mix.Has(OpQuery) && cfg.Params == "")
	if cfg.Setup {
		if err := s.setup(ctx, needKeys); err != nil {
			return nil, fmt.Errorf("setup of %s: %w", cfg.DB, err)
		}
	} else if needKeys {
		ids, err := s.loadKeys(ctx)
		if err != nil {
			return nil, err
		}
		for k, e := range ids {
			if e == 0 {
				return nil, &client.Error{Category: anomaly.NotFound, Message: fmt.Sprintf(
					"database %s lacks the loadgen entity of key %d (of %d): set it up (strata loadgen --setup)", cfg.DB, k, cfg.Entities)}
			}
		}
		s.ids = ids
	}
	if cfg.IDs != "" && (mix.Has(OpRead) || mix.Has(OpWrite)) {
		pool, err := s.pool(ctx, "ids", cfg.IDs)
		if err != nil {
			return nil, err
		}
		s.ids = make([]int64, len(pool))
		for i, p := range pool {
			e, ok := p[0].(int64)
			if len(p) != 1 || !ok {
				return nil, &client.Error{Category: anomaly.Incorrect, Message: fmt.Sprintf("ids: the query's result holds %v, not an entity id", p)}
			}
			s.ids[i] = e
		}
	}
	if cfg.Params != "" && mix.Has(OpQuery) {
		var err error
		if s.params, err = s.pool(ctx, "params", cfg.Params); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Keys returns the size of op's key space.
func (s *Strata) Keys(op Op) int {
	switch op {
	case OpRead, OpWrite:
		return len(s.ids)
	case OpQuery:
		if s.params != nil {
			return len(s.params)
		}
		return s.cfg.Entities
	}
	return 1
}

// Do makes one request.
func (s *Strata) Do(ctx context.Context, op Op, key int) error {
	switch op {
	case OpRead:
		// A Conn of its own, which has seen nothing: its DB takes the
		// node's newest value from the answer, one request a read. The
		// shared Conn's DB would ask again as of its basis whenever a
		// write had moved the database on, two requests a read.
		_, err := s.c.Conn(s.cfg.DB).DB().Pull(ctx, s.cfg.Pattern, s.ids[key])
		return err
	case OpQuery:
		args := []any{int64(key)}
		if s.params != nil {
			args = s.params[key]
		}
		_, err := s.c.Conn(s.cfg.DB).DB().Query(ctx, client.Query{Query: s.cfg.Query, Args: args})
		return err
	case OpWrite:
		v := s.seq.Add(1)
		b := make([]byte, 0, 48*s.cfg.TxSize)
		b = append(b, '[')
		for j := range s.cfg.TxSize {
			b = append(b, "[:db/add "...)
			b = strconv.AppendInt(b, s.ids[(key+j)%len(s.ids)], 10)
			b = append(b, " :loadgen/value "...)
			b = strconv.AppendInt(b, v, 10)
			b = append(b, ']')
		}
		b = append(b, ']')
		_, err := s.conn.Transact(ctx, string(b))
		return err
	case OpImport:
		g := s.seq.Add(1)
		_, err := s.conn.Transact(ctx, entitiesTx(s.cfg.Batch, func(i int) (int64, bool) { return g*int64(s.cfg.Batch) + int64(i), false }))
		return err
	}
	return fmt.Errorf("loadgen: unknown operation %s", op)
}

// entitiesTx is a transaction of n entities; value(i) is the i-th's
// value, and with withKey it is also its :loadgen/key and its tempid
// "k<value>".
func entitiesTx(n int, value func(i int) (v int64, withKey bool)) string {
	b := make([]byte, 0, n*(payloadSize+96))
	b = append(b, '[')
	for i := range n {
		v, withKey := value(i)
		b = append(b, '{')
		if withKey {
			b = append(b, `:db/id "k`...)
			b = strconv.AppendInt(b, v, 10)
			b = append(b, `" :loadgen/key `...)
			b = strconv.AppendInt(b, v, 10)
			b = append(b, ' ')
		}
		b = append(b, ":loadgen/value "...)
		b = strconv.AppendInt(b, v, 10)
		b = append(b, " :loadgen/group "...)
		b = strconv.AppendInt(b, v%groups, 10)
		b = append(b, ` :loadgen/payload "`...)
		b = append(b, payload...)
		b = append(b, `"}`...)
	}
	return string(append(b, ']'))
}

// setup creates the database and schema if they are missing, and with
// withEntities the entities of keys 0 to Entities-1 that are missing.
func (s *Strata) setup(ctx context.Context, withEntities bool) error {
	if err := s.c.CreateDB(ctx, s.cfg.DB); err != nil && !errors.Is(err, anomaly.Conflict) {
		return err
	}
	have, err := s.conn.DB().Q(ctx, `[:find ?a . :where [?a :db/ident :loadgen/payload]]`)
	if err != nil {
		return err
	}
	if have == nil {
		if _, err := s.conn.Transact(ctx, Schema); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	if !withEntities {
		return nil
	}
	ids, err := s.loadKeys(ctx)
	if err != nil {
		return err
	}
	var missing []int64
	for k, e := range ids {
		if e == 0 {
			missing = append(missing, int64(k))
		}
	}
	made := len(ids) - len(missing)
	if s.cfg.SetupProgress != nil {
		s.cfg.SetupProgress(made, len(ids))
	}
	for len(missing) > 0 {
		n := min(len(missing), setupBatchSize)
		batch := missing[:n]
		missing = missing[n:]
		rep, err := s.conn.Transact(ctx, entitiesTx(n, func(i int) (int64, bool) { return batch[i], true }))
		if err != nil {
			return fmt.Errorf("entities %d to %d: %w", batch[0], batch[n-1], err)
		}
		for _, k := range batch {
			e, ok := rep.TempIDs["k"+strconv.FormatInt(k, 10)]
			if !ok {
				return &client.Error{Category: anomaly.Fault, Message: fmt.Sprintf("the node's report lacks the tempid of key %d", k)}
			}
			ids[k] = e
		}
		made += n
		if s.cfg.SetupProgress != nil {
			s.cfg.SetupProgress(made, len(ids))
		}
	}
	s.ids = ids
	return nil
}

// loadKeys returns the ids of the loadgen entities of keys 0 to
// Entities-1, 0 for a key without one.
func (s *Strata) loadKeys(ctx context.Context) ([]int64, error) {
	ids := make([]int64, s.cfg.Entities)
	for d, err := range s.conn.DB().IndexRange(ctx, ":loadgen/key", int64(0), int64(s.cfg.Entities)) {
		if err != nil {
			if errors.Is(err, anomaly.NotFound) || errors.Is(err, anomaly.Incorrect) {
				// No database, or no :loadgen/key attribute.
				return nil, fmt.Errorf("database %s has no loadgen entities (set it up with strata loadgen --setup): %w", s.cfg.DB, err)
			}
			return nil, err
		}
		k, ok := d.V.(int64)
		if !ok || k < 0 || k >= int64(len(ids)) {
			continue
		}
		ids[k] = d.E
	}
	return ids, nil
}

// pool runs query and returns its result as parameter sets: a
// collection's elements one each, a relation's rows.
func (s *Strata) pool(ctx context.Context, what, query string) ([][]any, error) {
	res, err := s.conn.DB().Q(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	vec, ok := res.(edn.Vector)
	if !ok || len(vec) == 0 {
		return nil, &client.Error{Category: anomaly.Incorrect, Message: fmt.Sprintf("%s: the query's result is %v: want a non-empty collection or relation", what, res)}
	}
	if len(vec) > MaxKeys {
		vec = vec[:MaxKeys]
	}
	out := make([][]any, len(vec))
	for i, x := range vec {
		if row, ok := x.(edn.Vector); ok {
			out[i] = []any(row)
		} else {
			out[i] = []any{x}
		}
	}
	return out, nil
}

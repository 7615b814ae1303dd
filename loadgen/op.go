package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Op is one kind of request a workload makes.
type Op uint8

// The operations. Their order is the order of reports.
const (
	// OpRead pulls one entity by id.
	OpRead Op = iota
	// OpQuery runs the workload's query with one set of parameters.
	OpQuery
	// OpWrite commits a small transaction on existing entities.
	OpWrite
	// OpImport commits a batch of new entities.
	OpImport

	numOps
)

var opNames = [numOps]string{OpRead: "read", OpQuery: "query", OpWrite: "write", OpImport: "import"}

// String returns the operation's name, as the mix and the reports spell it.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// ParseOp returns the operation named s.
func ParseOp(s string) (Op, bool) {
	for i, n := range opNames {
		if n == s {
			return Op(i), true
		}
	}
	return 0, false
}

// Share is one operation's weight in a mix.
type Share struct {
	Op     Op
	Weight int
}

// Mix is the operations a workload makes, each picked with probability
// weight/total. A single-operation workload is a mix of one.
type Mix []Share

// MaxWeight bounds one weight of a mix, so that the total cannot overflow.
const MaxWeight = 1_000_000

// ParseMix reads a workload: an operation's name ("read"), or a list of
// weights ("read=8,write=2"). "mixed" alone is DefaultMix.
func ParseMix(s string) (Mix, error) {
	s = strings.TrimSpace(s)
	if s == "mixed" {
		return DefaultMix(), nil
	}
	if op, ok := ParseOp(s); ok {
		return Mix{{Op: op, Weight: 1}}, nil
	}
	var m Mix
	seen := map[Op]bool{}
	for _, f := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(f), "=")
		op, known := ParseOp(strings.TrimSpace(name))
		if !ok || !known {
			return nil, fmt.Errorf("mix %q: want OP=WEIGHT[,OP=WEIGHT…] with OP one of %s", s, strings.Join(opNames[:], ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 || n > MaxWeight {
			return nil, fmt.Errorf("mix %q: weight %q of %s: want 0 to %d", s, w, op, MaxWeight)
		}
		if seen[op] {
			return nil, fmt.Errorf("mix %q: %s given twice", s, op)
		}
		seen[op] = true
		if n > 0 {
			m = append(m, Share{Op: op, Weight: n})
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("mix %q: every weight is 0", s)
	}
	return m, nil
}

// DefaultMix is the mixed workload's default: 8 reads to 2 writes.
func DefaultMix() Mix { return Mix{{OpRead, 8}, {OpWrite, 2}} }

// String prints the mix as ParseMix reads it.
func (m Mix) String() string {
	if len(m) == 1 {
		return m[0].Op.String()
	}
	parts := make([]string, len(m))
	for i, s := range m {
		parts[i] = s.Op.String() + "=" + strconv.Itoa(s.Weight)
	}
	return strings.Join(parts, ",")
}

// Has reports whether the mix makes op.
func (m Mix) Has(op Op) bool {
	for _, s := range m {
		if s.Op == op && s.Weight > 0 {
			return true
		}
	}
	return false
}

func (m Mix) validate() error {
	total := 0
	for _, s := range m {
		if s.Op >= numOps || s.Weight < 0 || s.Weight > MaxWeight {
			return fmt.Errorf("mix: %s weight %d: want a known operation, weight 0 to %d", s.Op, s.Weight, MaxWeight)
		}
		total += s.Weight
	}
	if total == 0 {
		return fmt.Errorf("mix %q: makes no operation", m)
	}
	return nil
}

// picker picks operations of a mix by weight. Not safe for concurrent use
// (it shares its caller's rand).
type picker struct {
	ops   []Op
	cum   []int // cumulative weights
	total int
}

func newPicker(m Mix) picker {
	var p picker
	for _, s := range m {
		if s.Weight == 0 {
			continue
		}
		p.total += s.Weight
		p.ops = append(p.ops, s.Op)
		p.cum = append(p.cum, p.total)
	}
	return p
}

func (p *picker) pick(r *rand.Rand) Op {
	if len(p.ops) == 1 {
		return p.ops[0]
	}
	x := r.IntN(p.total)
	for i, c := range p.cum {
		if x < c {
			return p.ops[i]
		}
	}
	return p.ops[len(p.ops)-1]
}

package engine

import (
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
)

// ResultEDN converts a pull or query result (maps keyed by Keyword, []any,
// GoValue's values) into EDN values that edn.Marshal prints and
// edn.ToJSON writes in the JSON form. Map entries are sorted by their
// printed key, so output is stable. Entity ids become integers.
func ResultEDN(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(edn.Map, 0, len(v))
		for k, x := range v {
			m = append(m, edn.Entry{Key: ResultEDN(k), Value: ResultEDN(x)})
		}
		keys := make([]string, len(m))
		for i, e := range m {
			b, _ := edn.Marshal(e.Key)
			keys[i] = string(b)
		}
		idx := make([]int, len(m))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
		out := make(edn.Map, len(m))
		for i, j := range idx {
			out[i] = m[j]
		}
		return out
	case []any:
		out := make(edn.Vector, len(v))
		for i, x := range v {
			out[i] = ResultEDN(x)
		}
		return out
	case Keyword:
		ns, name, ok := strings.Cut(string(v), "/")
		if !ok {
			return edn.Keyword{Name: ns}
		}
		return edn.Keyword{Namespace: ns, Name: name}
	case Symbol:
		ns, name, ok := strings.Cut(string(v), "/")
		if !ok || name == "" {
			return edn.Symbol{Name: string(v)}
		}
		return edn.Symbol{Namespace: ns, Name: name}
	case datom.E:
		return int64(v)
	case BigDec:
		return edn.BigDec{Unscaled: v.Unscaled, Scale: v.Scale}
	case [16]byte:
		return edn.UUID(v)
	case []byte:
		return edn.Tagged{Tag: edn.Symbol{Name: "bytes"}, Value: string(v)}
	case float32:
		return float64(v)
	case datom.Value:
		return ResultEDN(GoValue(v))
	case *big.Int, string, int64, float64, bool, time.Time, nil:
		return v
	}
	return v
}

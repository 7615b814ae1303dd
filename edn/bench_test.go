package edn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// txData returns a transaction of n entity maps as a user would paste it:
// tempids, strings, longs, doubles, keywords, refs, an instant, a uuid, a
// tagged tempid and a nested component.
func txData(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := range n {
		fmt.Fprintf(&b, " {:db/id \"person-%d\"\n", i)
		fmt.Fprintf(&b, "  :person/name \"Person Number %d\"\n", i)
		fmt.Fprintf(&b, "  :person/email \"person%d@example.com\"\n", i)
		fmt.Fprintf(&b, "  :person/age %d\n", 18+rng.IntN(80))
		fmt.Fprintf(&b, "  :person/score %.3f\n", rng.Float64()*100)
		fmt.Fprintf(&b, "  :person/status :person.status/active\n")
		fmt.Fprintf(&b, "  :person/friends [\"person-%d\" \"person-%d\"]\n", rng.IntN(n), rng.IntN(n))
		fmt.Fprintf(&b, "  :person/joined #inst \"2024-%02d-%02dT10:%02d:00.000Z\"\n", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(60))
		fmt.Fprintf(&b, "  :person/uuid #uuid \"%08x-%04x-4%03x-8%03x-%012x\"\n", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()&(1<<48-1))
		fmt.Fprintf(&b, "  :person/address {:address/street \"%d Main St\" :address/city \"Springfield\"}}\n", i)
		if i%10 == 0 {
			fmt.Fprintf(&b, " [:db/add #db/id[:db.part/user -%d] :person/tag \"t%d\"]\n", i+1, i)
		}
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// txJSON is the same shape in JSON, for the reference: encoding/json into any.
func txJSON(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, ` {"db/id": "person-%d", "person/name": "Person Number %d", "person/email": "person%d@example.com", `, i, i, i)
		fmt.Fprintf(&b, `"person/age": %d, "person/score": %.3f, "person/status": "person.status/active", `, 18+rng.IntN(80), rng.Float64()*100)
		fmt.Fprintf(&b, `"person/friends": ["person-%d", "person-%d"], "person/joined": "2024-%02d-%02dT10:%02d:00.000Z", `, rng.IntN(n), rng.IntN(n), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(60))
		fmt.Fprintf(&b, `"person/uuid": "%08x-%04x-4%03x-8%03x-%012x", `, rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()&(1<<48-1))
		fmt.Fprintf(&b, `"person/address": {"address/street": "%d Main St", "address/city": "Springfield"}}`, i)
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// BenchmarkParse reads a transaction of 10,000 entity maps (about 110K
// datoms). json-reference is encoding/json decoding the same shape into any,
// measured in the same run: compare the ratio, not the absolute MB/s.
func BenchmarkParse(b *testing.B) {
	doc := txData(10_000)
	b.Run("tx=10000", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := Parse(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	js := txJSON(10_000)
	b.Run("json-reference", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			var v any
			if err := json.Unmarshal(js, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecoder(b *testing.B) {
	doc := txData(10_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		d := NewDecoder(bytes.NewReader(doc))
		if _, err := d.Decode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	v, err := Parse(txData(10_000))
	if err != nil {
		b.Fatal(err)
	}
	out, _ := Marshal(v)
	b.ReportAllocs()
	b.SetBytes(int64(len(out)))
	var buf []byte
	for b.Loop() {
		if buf, err = AppendEDN(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSmall(b *testing.B) {
	q := []byte(`[:find ?e ?name :in $ ?age :where [?e :person/age ?age] [?e :person/name ?name]]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		if _, err := Parse(q); err != nil {
			b.Fatal(err)
		}
	}
}

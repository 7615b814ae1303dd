package edn

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stratadb/strata/anomaly"
)

// Fuzz targets. Run one with e.g.
//
//	go test ./edn/ -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s
//
// Without -fuzz they run their seed corpora (the f.Add calls below and
// testdata/fuzz/) as ordinary tests.

var fuzzSeeds = []string{
	`nil true false "s\n\u00e9\uD83D\uDE00\101" \a \newline \u00e9 \o101`,
	`42 -7 +1 9223372036854775808 1N 1.5 1. -0.0 1e10 1e400 ##NaN ##Inf ##-Inf 1.10M 1E+3M 1/2`,
	`:a :db/id :db.part/user :person/_friends :1 a foo.bar/baz / clojure.core// ?e _ ... $ -a +.5`,
	`(1 2) [1 2] {:a 1 "b" [2]} #{1 [2] (3)} #:ns{:a 1 :_/b 2 c 3}`,
	`#inst "1985-04-12T23:20:50.52Z" #inst "1985" #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"`,
	`#db/id[:db.part/user -1] #_ #_ 1 2 [1 #_ 2] ; comment` + "\n" + `{:find [?e] :where [[?e :a ?v]]}`,
	`[:db/add "tempid" :a/b 1]`,
	`{:a 1 :a 2}`, `#{1 1}`, `[1 2`, `"abc`, `.5`, `01`, `#"re"`, `::a`, `#::{}`, `\uD800`,
	`#{1 2 3 4 5 6 7 8 9 10 [1] (1) {1 2} #{3}}`,
	`#inst "0000-01-01T00:00:00+01:00"`,
}

// FuzzParse: no input makes the reader panic; every error is a *SyntaxError
// at an offset inside the input that matches anomaly.Incorrect; a value read
// prints, reads back Equal and prints the same again; a Decoder fed one byte
// at a time reads the same values as ParseAll.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add(txData(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			checkFuzzError(t, data, err)
		} else {
			text, err := Marshal(v)
			if err != nil {
				t.Fatalf("Marshal of a value read from %q: %v", data, err)
			}
			back, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(Marshal(Parse(%q)) = %s): %v", data, text, err)
			}
			if !Equal(v, back) {
				t.Fatalf("Parse(%q) = %#v; printed %s; read back %#v", data, v, text, back)
			}
			if again, err := Marshal(back); err != nil || !bytes.Equal(again, text) {
				t.Fatalf("printed %s, then %s (%v)", text, again, err)
			}
		}

		all, err := parseEach(data)
		if err != nil {
			checkFuzzError(t, data, err)
		}
		if pa, perr := ParseAll(data); (perr == nil) != (err == nil) || perr == nil && len(pa) != len(all) {
			t.Fatalf("ParseAll: %d values, %v; one at a time: %d, %v", len(pa), perr, len(all), err)
		}
		d := NewDecoder(iotest.OneByteReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			dv, derr := d.Decode()
			if derr == io.EOF {
				if err != nil || i != len(all) {
					t.Fatalf("Decoder read %d values and io.EOF; one at a time: %d values, %v", i, len(all), err)
				}
				break
			}
			if derr != nil {
				var se1, se2 *SyntaxError
				if !errors.As(derr, &se1) || !errors.As(err, &se2) || *se1 != *se2 {
					t.Fatalf("Decoder error %v; one at a time: %v", derr, err)
				}
				break
			}
			if i >= len(all) || !Equal(dv, all[i]) {
				t.Fatalf("Decoder value %d = %#v; ParseAll: %d values, %v", i, dv, len(all), err)
			}
		}
	})
}

func checkFuzzError(t *testing.T, data []byte, err error) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) || !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("Parse(%q) error %v is not a *SyntaxError", data, err)
	}
	if se.Offset < 0 || se.Offset > int64(len(data)) || se.Line < 1 || se.Column < 1 {
		t.Fatalf("Parse(%q): error position out of range: %+v", data, se)
	}
}

// FuzzMarshal: whatever Parse reads from text that AppendEDN wrote around a
// random string, character and keyword is the same value.
func FuzzMarshal(f *testing.F) {
	f.Add("a\"b\\c\n", int32('x'), "ns", "name")
	f.Add("é中😀\x00\x7f", int32(0xa0), "", "/")
	f.Fuzz(func(t *testing.T, s string, r int32, ns, name string) {
		for _, v := range []any{s, Char(r), Keyword{ns, name}, Symbol{ns, name}, Tagged{Symbol{ns, name}, s}} {
			text, err := Marshal(v)
			if err != nil {
				if !errors.Is(err, anomaly.Incorrect) {
					t.Fatalf("Marshal(%#v): %v is not anomaly.Incorrect", v, err)
				}
				continue
			}
			back, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(Marshal(%#v) = %s): %v", v, text, err)
			}
			if !Equal(v, back) {
				t.Fatalf("Marshal(%#v) = %s, read back as %#v", v, text, back)
			}
		}
	})
}

// parseEach returns the values of data read one at a time up to the first
// error, and that error.
func parseEach(data []byte) ([]any, error) {
	st := defaultParser.state(data)
	defer st.release()
	var out []any
	for {
		v, err := st.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

package edn

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
)

func TestJSONRoundTrip(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewPCG(9, 10))}
	n := 5000
	if testing.Short() {
		n = 1000
	}
	for i := range n {
		v := g.value(4)
		js, err := ToJSON(v)
		if err != nil {
			t.Fatalf("value %d: ToJSON: %v", i, err)
		}
		back, err := FromJSON(js)
		if err != nil {
			t.Fatalf("value %d: FromJSON(%s): %v", i, js, err)
		}
		if !Equal(v, back) {
			t.Fatalf("value %d: FromJSON(%s) = %#v, not Equal to %#v", i, js, back, v)
		}
	}
}

func TestJSONForms(t *testing.T) {
	cases := []struct {
		json string
		edn  string
	}{
		{`null`, `nil`},
		{`[1, 2.5, "x", true]`, `[1 2.5 "x" true]`},
		{`{"~:db/id": "tmp", "~:person/name": "Ann", "~:person/aliases": ["a", "b"]}`, `{:db/id "tmp" :person/name "Ann" :person/aliases ["a" "b"]}`},
		{`[["~:db/add", "ann", "~:person/age", 31]]`, `[[:db/add "ann" :person/age 31]]`},
		{`{"~#set": [1, 2]}`, `#{1 2}`},
		{`{"~#list": ["~$inc", 1]}`, `(inc 1)`},
		{`{"~#cmap": [[1, 2], "x"]}`, `{[1 2] "x"}`},
		{`{"~#db/id": ["~:db.part/user", -1]}`, `#db/id [:db.part/user -1]`},
		{`"~t1985-04-12T23:20:50.52Z"`, `#inst "1985-04-12T23:20:50.52Z"`},
		{`"~m0"`, `#inst "1970-01-01T00:00:00Z"`},
		{`"~u6f2c1c5e-1a1f-4c7a-9d0e-0b1d2c3e4f50"`, `#uuid "6f2c1c5e-1a1f-4c7a-9d0e-0b1d2c3e4f50"`},
		{`"~n123456789012345678901234567890"`, `123456789012345678901234567890N`},
		{`123456789012345678901234567890`, `123456789012345678901234567890N`},
		{`"~f1.50"`, `1.50M`},
		{`"~~tilde"`, `"~tilde"`},
		{`"~cλ"`, `\λ`},
		{`"~zNaN"`, `##NaN`},
		{`{"~:find": ["~$?e"], "~:where": [["~$?e", "~:person/name", "~$?n"]]}`, `{:find [?e] :where [[?e :person/name ?n]]}`},
	}
	for _, c := range cases {
		got, err := FromJSON([]byte(c.json))
		if err != nil {
			t.Fatalf("%s: %v", c.json, err)
		}
		want, err := Parse([]byte(c.edn))
		if err != nil {
			t.Fatalf("%s: %v", c.edn, err)
		}
		if !Equal(got, want) {
			t.Errorf("FromJSON(%s) = %#v, want %s", c.json, got, c.edn)
		}
	}
	if v, _ := FromJSON([]byte(`"~m1000"`)); !v.(time.Time).Equal(time.UnixMilli(1000)) {
		t.Error("~m instant")
	}
	if v, _ := FromJSON([]byte(`"~n-5"`)); v.(*big.Int).Int64() != -5 {
		t.Error("~n negative")
	}
}

func TestJSONErrors(t *testing.T) {
	cases := []struct{ json, msg string }{
		{`{"a": 1, "a": 2}`, `duplicate map key "a"`},
		{`{"~#set": [1, 1]}`, `duplicate set element`},
		{`{"~#set": 1}`, `~#set takes an array`},
		{`"~:"`, `not a valid keyword`},
		{`"~qx"`, `unknown tag ~q`},
		{`"~"`, `"~" alone`},
		{`"~tyesterday"`, `"~tyesterday"`},
		{"[1,\n 2,\n ]", `line 3, column 2`},
		{`[1, 2`, `unexpected end of input`},
		{`[1] 2`, `unexpected data after the value`},
		{`{"~#set": [1], "x": 2}`, `has one key`},
		{strings.Repeat("[", 1100) + strings.Repeat("]", 1100), `nesting deeper than`},
	}
	for _, c := range cases {
		_, err := FromJSON([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("FromJSON(%.40s) = %v, want an error containing %q", c.json, err, c.msg)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("FromJSON(%.40s): %T is not an incorrect SyntaxError", c.json, err)
		}
	}
}

// FuzzFromJSON: any input either fails with a SyntaxError or reads a value
// that ToJSON writes back and FromJSON reads as an Equal value.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`null`, `[1,"~:a/b",{"~#set":[1]}]`, `{"~:k":"~~x","~#x":1}`, `{"~#cmap":[[1],2]}`,
		`"~f1.5"`, `"~u6f2c1c5e-1a1f-4c7a-9d0e-0b1d2c3e4f50"`, `{"~#my/tag":[1,2]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := FromJSON(data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		js, err := ToJSON(v)
		if err != nil {
			t.Fatalf("ToJSON of %#v: %v", v, err)
		}
		back, err := FromJSON(js)
		if err != nil {
			t.Fatalf("FromJSON(ToJSON) = %v for %s", err, js)
		}
		if !Equal(v, back) {
			t.Fatalf("round trip of %s: %#v then %#v", js, v, back)
		}
	})
}

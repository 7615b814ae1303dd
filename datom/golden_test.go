package datom

import (
	"encoding/hex"
	"math"
	"math/big"
	"strings"
	"testing"
)

// The formats byte by byte, as key.go and columns.go document them. A
// change here is a change of the stored format: it needs a new version.

func TestValueKeyGolden(t *testing.T) {
	for _, c := range []struct {
		v    Value
		want string // hex, spaces for reading
	}{
		{Value{}, "00"},
		{Boolean(true), "01 01"},
		{Long(1), "02 8000000000000001"},
		{Long(-1), "02 7fffffffffffffff"},
		{BigInt(big.NewInt(0)), "03 01"},
		{BigInt(big.NewInt(256)), "03 02 02 0100"},
		{BigInt(big.NewInt(-256)), "03 00 fd feff"},
		{Float(1), "04 bf800000"},
		{Float(float32(math.NaN())), "04 ffffffff"},
		{Double(math.Copysign(0, -1)), "05 7fffffffffffffff"},
		{Double(0), "05 8000000000000000"},
		{BigDec(big.NewInt(110), 2), "06 02 8000000000000001 0c 00 80000002"},         // 1.10M: +0.11×10^1, scale 2
		{BigDec(big.NewInt(-11), 1), "06 00 7ffffffffffffffe f3 ff 80000001"},         // -1.1M
		{BigDec(big.NewInt(12345), 0), "06 02 8000000000000005 0d 23 33 00 80000000"}, // pairs 12 34 5(0): 1+12, 1+34, 1+50
		{BigDec(big.NewInt(0), -3), "06 01 7ffffffd"},
		{InstantMillis(-1), "07 7fffffffffffffff"},
		{String("a\x00"), "08 61 00ff 0001"},
		{Keyword("a/b"), "09 612f62 0001"},
		{UUID([16]byte{15: 1}), "0b 00000000000000000000000000000001"},
		{Ref(7), "0e 0000000000000007"},
		{Tuple(Long(1), Value{}, String("")), "0f 03 8000000000000001 01 09 0001 00"},
	} {
		got := hex.EncodeToString(AppendValueKey(nil, c.v))
		if want := strings.ReplaceAll(c.want, " ", ""); got != want {
			t.Errorf("AppendValueKey(%v) = %s, want %s", c.v, got, want)
		}
	}
	d := Datom{E: 0x1122, A: 0x33, V: Boolean(false), Tx: 0x44, Added: true}
	for x, want := range map[Index]string{
		EAVT: "0000000000001122 0000000000000033 0100 0000000000000044 01",
		AEVT: "0000000000000033 0000000000001122 0100 0000000000000044 01",
		AVET: "0000000000000033 0100 0000000000001122 0000000000000044 01",
		VAET: "0100 0000000000000033 0000000000001122 0000000000000044 01",
	} {
		if got := hex.EncodeToString(AppendKey(nil, x, d)); got != strings.ReplaceAll(want, " ", "") {
			t.Errorf("%v: AppendKey = %s, want %s", x, got, want)
		}
	}
}

func TestBlockGolden(t *testing.T) {
	tx := E(0x40)
	ds := []Datom{
		{E: 10, A: 1, V: String("ann"), Tx: tx, Added: true},
		{E: 10, A: 2, V: Long(30), Tx: tx, Added: true},
		{E: 11, A: 1, V: String("anna"), Tx: tx, Added: true},
		{E: 11, A: 2, V: Long(31), Tx: tx, Added: false},
	}
	want := strings.Join([]string{
		"01 00 04",                   // version 1, eavt, 4 datoms
		"02 0a 01 0c",                // e: frame, base 10, width 1, bits 0,0,1,1 (LSB first)
		"02 01 01 0a",                // a: frame, base 1, width 1, bits 0,1,0,1
		"02 40 00",                   // tx: frame, base 0x40, width 0 (a constant: smaller than one run)
		"02 07",                      // added: bitwise, 1,1,1,0
		"02",                         // 2 groups: a=1, a=2
		"02 08 00",                   // group a=1: types: frame, base 8 (string), width 0
		"00 00 03 616e6e 03 01 61",   // strings: no dictionary; literals "ann", then 3 shared + "a"
		"02 02 00",                   // group a=2: types: frame, base 2 (long), width 0
		"01 c3ffffffffffffffff01 02", // numbers: delta: zigzag(30 with the sign bit flipped), then zigzag(+1)
	}, " ")
	got := hex.EncodeToString(AppendBlock(nil, EAVT, ds))
	if want := strings.ReplaceAll(want, " ", ""); got != want {
		t.Errorf("AppendBlock = %s\n                want %s", got, want)
	}
}

package chart

import (
	"image"
	"image/color"
	"strings"
	"unicode/utf8"
)

// A 5×7 bitmap font of printable ASCII, and µ, × and – for latencies and
// ratios, drawn for this package (the module has no font package, and a
// plot needs no more than this). Each glyph is seven rows of five columns
// above the baseline, '#' for ink, and two more below it for the
// descenders of g, j, p, q, y, µ and the tails of , and ;.
const fontGlyphs = `
0 .###. #...# #..## #.#.# ##..# #...# .###.
1 ..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.
2 .###. #...# ....# ...#. ..#.. .#... #####
3 .###. #...# ....# ..##. ....# #...# .###.
4 ...#. ..##. .#.#. #..#. ##### ...#. ...#.
5 ##### #.... ####. ....# ....# #...# .###.
6 ..##. .#... #.... ####. #...# #...# .###.
7 ##### ....# ...#. ..#.. .#... .#... .#...
8 .###. #...# #...# .###. #...# #...# .###.
9 .###. #...# #...# .#### ....# ...#. .##..
A .###. #...# #...# ##### #...# #...# #...#
B ####. #...# #...# ####. #...# #...# ####.
C .###. #...# #.... #.... #.... #...# .###.
D ####. #...# #...# #...# #...# #...# ####.
E ##### #.... #.... ####. #.... #.... #####
F ##### #.... #.... ####. #.... #.... #....
G .###. #...# #.... #.### #...# #...# .####
H #...# #...# #...# ##### #...# #...# #...#
I .###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.
J ..### ...#. ...#. ...#. ...#. #..#. .##..
K #...# #..#. #.#.. ##... #.#.. #..#. #...#
L #.... #.... #.... #.... #.... #.... #####
M #...# ##.## #.#.# #.#.# #...# #...# #...#
N #...# #...# ##..# #.#.# #..## #...# #...#
O .###. #...# #...# #...# #...# #...# .###.
P ####. #...# #...# ####. #.... #.... #....
Q .###. #...# #...# #...# #.#.# #..#. .##.#
R ####. #...# #...# ####. #.#.. #..#. #...#
S .#### #.... #.... .###. ....# ....# ####.
T ##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..
U #...# #...# #...# #...# #...# #...# .###.
V #...# #...# #...# #...# #...# .#.#. ..#..
W #...# #...# #...# #.#.# #.#.# #.#.# .#.#.
X #...# #...# .#.#. ..#.. .#.#. #...# #...#
Y #...# #...# .#.#. ..#.. ..#.. ..#.. ..#..
Z ##### ....# ...#. ..#.. .#... #.... #####
a ..... ..... .###. ....# .#### #...# .####
b #.... #.... #.##. ##..# #...# #...# ####.
c ..... ..... .###. #.... #.... #...# .###.
d ....# ....# .##.# #..## #...# #...# .####
e ..... ..... .###. #...# ##### #.... .###.
f ..##. .#..# .#... ###.. .#... .#... .#...
g ..... ..... .#### #...# #...# #...# .#### ....# .###.
h #.... #.... #.##. ##..# #...# #...# #...#
i ..#.. ..... .##.. ..#.. ..#.. ..#.. .###.
j ...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..
k #.... #.... #..#. #.#.. ##... #.#.. #..#.
l .##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.
m ..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#
n ..... ..... #.##. ##..# #...# #...# #...#
o ..... ..... .###. #...# #...# #...# .###.
p ..... ..... ####. #...# #...# #...# ####. #.... #....
q ..... ..... .#### #...# #...# #...# .#### ....# ....#
r ..... ..... #.##. ##..# #.... #.... #....
s ..... ..... .###. #.... .###. ....# ####.
t .#... .#... ###.. .#... .#... .#..# ..##.
u ..... ..... #...# #...# #...# #..## .##.#
v ..... ..... #...# #...# #...# .#.#. ..#..
w ..... ..... #...# #...# #.#.# #.#.# .#.#.
x ..... ..... #...# .#.#. ..#.. .#.#. #...#
y ..... ..... #...# #...# #...# #...# .#### ....# .###.
z ..... ..... ##### ...#. ..#.. .#... #####
. ..... ..... ..... ..... ..... .##.. .##..
, ..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...
: ..... .##.. .##.. ..... .##.. .##.. .....
; ..... .##.. .##.. ..... ..... .##.. .##.. ..#.. .#...
% ##... ##..# ...#. ..#.. .#... #..## ...##
/ ..... ....# ...#. ..#.. .#... #.... .....
\ ..... #.... .#... ..#.. ...#. ....# .....
( ...#. ..#.. .#... .#... .#... ..#.. ...#.
) .#... ..#.. ...#. ...#. ...#. ..#.. .#...
[ .###. .#... .#... .#... .#... .#... .###.
] .###. ...#. ...#. ...#. ...#. ...#. .###.
{ ...## ..#.. ..#.. .#... ..#.. ..#.. ...##
} ##... ..#.. ..#.. ...#. ..#.. ..#.. ##...
- ..... ..... ..... ##### ..... ..... .....
+ ..... ..#.. ..#.. ##### ..#.. ..#.. .....
= ..... ..... ##### ..... ##### ..... .....
_ ..... ..... ..... ..... ..... ..... #####
* ..... ..#.. #.#.# .###. #.#.# ..#.. .....
< ...#. ..#.. .#... #.... .#... ..#.. ...#.
> .#... ..#.. ...#. ....# ...#. ..#.. .#...
' ..#.. ..#.. ..... ..... ..... ..... .....
" .#.#. .#.#. ..... ..... ..... ..... .....
? .###. #...# ....# ...#. ..#.. ..... ..#..
! ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..
# .#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.
@ .###. #...# #.### #.#.# #.##. #.... .####
& .##.. #..#. #.#.. .#... #.#.# #..#. .##.#
$ ..#.. .#### #.#.. .###. ..#.# ####. ..#..
^ ..#.. .#.#. #...# ..... ..... ..... .....
~ ..... ..... .#... #.#.# ...#. ..... .....
| ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..
µ ..... ..... #...# #...# #...# #..## ###.# #.... #....
× ..... ..... #...# .#.#. ..#.. .#.#. #...#
– ..... ..... ..... ##### ..... ..... .....
`

// Font metrics, in font pixels: a glyph and the advance to the next.
const (
	glyphW, glyphH = 5, 7 // above the baseline
	glyphDescent   = 2
	glyphAdvance   = glyphW + 1
)

// glyphs holds each character's rows, bit 4 the leftmost column; a
// space and characters without a glyph are blank and '?'.
var glyphs = parseGlyphs(fontGlyphs)

func parseGlyphs(table string) map[rune][glyphH + glyphDescent]uint8 {
	out := map[rune][glyphH + glyphDescent]uint8{}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if (len(f) != 1+glyphH && len(f) != 1+glyphH+glyphDescent) || utf8.RuneCountInString(f[0]) != 1 {
			panic("chart: font line " + line + ": want a character and seven or nine rows")
		}
		var g [glyphH + glyphDescent]uint8
		for i, row := range f[1:] {
			if len(row) != glyphW {
				panic("chart: font line " + line + ": a row is not five columns")
			}
			for _, c := range row {
				g[i] <<= 1
				if c == '#' {
					g[i] |= 1
				}
			}
		}
		r, _ := utf8.DecodeRuneInString(f[0])
		out[r] = g
	}
	return out
}

// TextWidth is the width of s drawn at scale, in image pixels.
func TextWidth(s string, scale int) int {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return 0
	}
	return (n*glyphAdvance - 1) * scale
}

// Advance is the distance from one character to the next at scale: a
// line of n characters takes n*Advance(scale) pixels at most.
func Advance(scale int) int { return glyphAdvance * scale }

// TextHeight is a line's height above the baseline at scale (descenders
// reach Descent(scale) below).
func TextHeight(scale int) int { return glyphH * scale }

// Descent is how far below the baseline descenders reach at scale.
func Descent(scale int) int { return glyphDescent * scale }

// Text draws s with its top-left corner at (x, y), each font pixel a
// scale×scale square. A character without a glyph draws as '?'.
func Text(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, r := range s {
		g, ok := glyphs[r]
		if !ok && r != ' ' {
			g = glyphs['?']
		}
		for row := range glyphH + glyphDescent {
			for col := range glyphW {
				if g[row]&(1<<(glyphW-1-col)) == 0 {
					continue
				}
				FillRect(img, x+col*scale, y+row*scale, scale, scale, c)
			}
		}
		x += glyphAdvance * scale
	}
}

package wire

import "unicode/utf8"

// CursorToByte converts a cursor position counted in UTF-16 code units (as
// JupyterLab sends cursor_pos) into a byte offset into the UTF-8 string s.
// Positions past the end clamp to len(s); negative ones to 0. A position
// inside a surrogate pair moves to the start of that character.
func CursorToByte(s string, pos int) int {
	if pos <= 0 {
		return 0
	}
	units := 0
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		n := 1
		if r >= 0x10000 {
			n = 2
		}
		if units+n > pos {
			return i
		}
		units += n
		i += w
		if units == pos {
			return i
		}
	}
	return len(s)
}

// ByteToCursor converts a byte offset into s into UTF-16 code units, the
// inverse of [CursorToByte]. Offsets inside a character count up to the
// start of it.
func ByteToCursor(s string, off int) int {
	if off <= 0 {
		return 0
	}
	if off > len(s) {
		off = len(s)
	}
	units := 0
	for i, r := range s {
		if i >= off {
			break
		}
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	return units
}

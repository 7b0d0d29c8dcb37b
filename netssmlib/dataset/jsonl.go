package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// DataField is the JSONL field holding the text of a sample.
const DataField = "Data"

// dataField finds the top-level "Data" string of one JSON object and
// returns its raw bytes between the quotes (escaped reports whether they
// hold backslash escapes). It scans without allocating; anything that is
// not a JSON object with a string Data field is an error.
func dataField(line []byte) (raw []byte, escaped bool, err error) {
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, false, errors.New("not a JSON object")
	}
	i++
	found := false
	i = skipWS(line, i)
	if i < len(line) && line[i] == '}' {
		return nil, false, errors.New(`no "Data" field`)
	}
	for {
		i = skipWS(line, i)
		if i >= len(line) || line[i] != '"' {
			return nil, false, errors.New("malformed JSON object (expected a key)")
		}
		ks, ke, kesc, err := scanString(line, i)
		if err != nil {
			return nil, false, err
		}
		isData := string(line[ks:ke]) == DataField
		if kesc { // a key spelled with escapes
			var k string
			if json.Unmarshal(line[ks-1:ke+1], &k) == nil {
				isData = k == DataField
			}
		}
		i = skipWS(line, ke+1)
		if i >= len(line) || line[i] != ':' {
			return nil, false, errors.New("malformed JSON object (expected ':')")
		}
		i = skipWS(line, i+1)
		if isData {
			if i >= len(line) || line[i] != '"' {
				return nil, false, errors.New(`"Data" is not a string`)
			}
			vs, ve, vesc, err := scanString(line, i)
			if err != nil {
				return nil, false, err
			}
			// Python's json keeps the last of duplicate keys; so do we.
			raw, escaped, found = line[vs:ve], vesc, true
			i = ve + 1
		} else if i, err = skipValue(line, i); err != nil {
			return nil, false, err
		}
		i = skipWS(line, i)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		if i < len(line) && line[i] == '}' {
			if skipWS(line, i+1) != len(line) {
				return nil, false, errors.New("text after the JSON object")
			}
			if !found {
				return nil, false, errors.New(`no "Data" field`)
			}
			return raw, escaped, nil
		}
		return nil, false, errors.New("malformed JSON object (expected ',' or '}')")
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString scans the string starting at the quote b[i]; it returns the
// bounds of its content. Two SIMD byte searches per string in the common
// case: the closing quote, then a backslash before it.
func scanString(b []byte, i int) (start, end int, escaped bool, err error) {
	start = i + 1
	for j := start; j <= len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			break
		}
		q := j + k
		bs := bytes.IndexByte(b[j:q], '\\')
		if bs < 0 {
			return start, q, escaped, nil
		}
		escaped = true
		j += bs + 2 // skip the escape pair (which may be \")
	}
	return 0, 0, false, errors.New("unterminated JSON string")
}

// skipValue skips one JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return i, errors.New("missing JSON value")
	}
	switch b[i] {
	case '"':
		_, e, _, err := scanString(b, i)
		return e + 1, err
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				_, e, _, err := scanString(b, i)
				if err != nil {
					return i, err
				}
				i = e + 1
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return i, errors.New("unterminated JSON value")
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\r' && b[j] != '\n' {
			j++
		}
		if j == i {
			return i, errors.New("missing JSON value")
		}
		return j, nil
	}
}

// encodeLine tokenizes the Data field of one JSONL line into dst.
func encodeLine(tok *tokenizer.Tokenizer, dst []int32, line []byte, maxLen int) ([]int32, error) {
	raw, escaped, err := dataField(line)
	if err != nil {
		return dst, err
	}
	if !escaped {
		return tok.AppendEncodeBytes(dst, raw, maxLen), nil
	}
	// raw excludes the quotes; put them back for the decoder.
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return dst, fmt.Errorf(`"Data": %v`, err)
	}
	return tok.AppendEncode(dst, s, maxLen), nil
}

// lineIndex returns the [start,end) of each non-blank line of data.
func lineIndex(data []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		end := len(data)
		if j >= 0 {
			end = i + j
		}
		if len(bytes.TrimSpace(data[i:end])) > 0 {
			out = append(out, [2]int{i, end})
		}
		i = end + 1
	}
	return out
}

// lineNumber is the 1-based line number of byte offset off.
func lineNumber(data []byte, off int) int { return bytes.Count(data[:off], []byte("\n")) + 1 }

type jsonlReader struct {
	path  string
	data  []byte
	unmap func() error
	lines [][2]int
	opt   Options
	next  int
	ids   []int32
	mask  []int8
}

func openJSONL(path string, opt Options) (*jsonlReader, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return &jsonlReader{path: path, data: data, unmap: unmap, lines: lineIndex(data), opt: opt}, nil
}

func (r *jsonlReader) Len() int { return len(r.lines) }
func (r *jsonlReader) Reset()   { r.next = 0 }

func (r *jsonlReader) Next() (Example, error) {
	if r.next >= len(r.lines) {
		return Example{}, io.EOF
	}
	ex, err := r.At(r.next)
	r.next++
	return ex, err
}

func (r *jsonlReader) At(i int) (Example, error) {
	if r.unmap == nil {
		return Example{}, errClosed
	}
	if i < 0 || i >= len(r.lines) {
		return Example{}, fmt.Errorf("dataset: %s: example %d out of range [0,%d)", r.path, i, len(r.lines))
	}
	l := r.lines[i]
	ids, err := encodeLine(r.opt.Tokenizer, r.ids[:0], r.data[l[0]:l[1]], r.opt.MaxLen)
	if err != nil {
		return Example{}, fmt.Errorf("dataset: %s:%d: %v", r.path, lineNumber(r.data, l[0]), err)
	}
	r.ids, r.mask = padExample(ids, r.mask[:0], r.opt.Padding, r.opt.MaxLen, r.opt.Tokenizer.Pad())
	return Example{InputIDs: r.ids, AttentionMask: r.mask}, nil
}

// padExample builds the attention mask for ids and, when pad is set, pads
// ids to maxLen with padID.
func padExample(ids []int32, mask []int8, pad bool, maxLen int, padID int32) ([]int32, []int8) {
	n := len(ids)
	for range n {
		mask = append(mask, 1)
	}
	if pad {
		for len(ids) < maxLen {
			ids = append(ids, padID)
			mask = append(mask, 0)
		}
	}
	return ids, mask
}

func (r *jsonlReader) Close() error {
	if r.unmap == nil {
		return nil
	}
	err := r.unmap()
	r.unmap, r.data = nil, nil
	return err
}

package tokenizer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Encode returns the ids of text as HF's tokenizer(text)["input_ids"] does
// (including the post-processor's special tokens, if the file has any).
func (t *Tokenizer) Encode(text string) []int32 {
	return t.AppendEncode(nil, text, 0)
}

// AppendEncode appends the ids of text to dst and returns the extended slice.
// When maxLen > 0 the ids of this text are truncated to maxLen, as HF does
// with truncation=True, max_length=maxLen (keeping the first ids; the
// post-processor's special tokens count towards maxLen). Encoding never
// fails: words outside the vocabulary become the unk id (and are dropped if
// the model has no unk token, as HF's BPE does).
func (t *Tokenizer) AppendEncode(dst []int32, text string, maxLen int) []int32 {
	return appendEncode(t, dst, text, maxLen)
}

// AppendEncodeBytes is AppendEncode for text held in a byte slice; text made
// only of decimal words, spaces and added tokens is encoded without
// allocating.
func (t *Tokenizer) AppendEncodeBytes(dst []int32, text []byte, maxLen int) []int32 {
	return appendEncode(t, dst, text, maxLen)
}

func appendEncode[S string | []byte](t *Tokenizer, dst []int32, text S, maxLen int) []int32 {
	limit := -1
	if maxLen > 0 {
		limit = maxLen - len(t.prefix) - len(t.suffix)
		if limit < 0 {
			limit = 0
		}
	}
	start := len(dst)
	dst = append(dst, t.prefix...)
	body := len(dst)
	if t.fast {
		if out, ok := appendFast(t, dst, text, limit); ok {
			return append(out, t.suffix...)
		}
		dst = dst[:body]
	}
	dst = t.appendGeneral(dst, string(text))
	if limit >= 0 && len(dst)-body > limit {
		dst = dst[:body+limit]
	}
	_ = start
	return append(dst, t.suffix...)
}

// digitBase[n] is where the n-digit words start in the fast table.
var digitBase = [4]int{0, 0, 10, 110}

const digitWords = 1110

// appendFast encodes text made of ASCII decimal words of up to 3 digits,
// single spaces and added tokens; ok is false on anything else, and the
// caller falls back to the general path.
func appendFast[S string | []byte](t *Tokenizer, dst []int32, s S, limit int) ([]int32, bool) {
	body := len(dst)
	n := len(s)
	single := t.digitOne
	for i := 0; i < n; {
		c := s[i]
		if c == ' ' {
			i++
			continue
		}
		if limit >= 0 && len(dst)-body >= limit {
			return dst[:body+limit], true
		}
		if d := c - '0'; d <= 9 {
			k := int(d)
			j := i + 1
			if j < n {
				if d := s[j] - '0'; d <= 9 {
					k = 10 + k*10 + int(d)
					j++
					if j < n {
						if d := s[j] - '0'; d <= 9 {
							k = 110 + (k-10)*10 + int(d)
							j++
							if j < n && s[j]-'0' <= 9 {
								return dst, false
							}
						}
					}
				}
			}
			if j < n && s[j] != ' ' && s[j] != '<' {
				return dst, false
			}
			if id := single[k]; id >= 0 {
				dst = append(dst, id)
			} else {
				dst = append(dst, t.digitIDs[t.digitOff[k]:t.digitOff[k+1]]...)
			}
			i = j
			continue
		}
		if c != '<' {
			return dst, false
		}
		id, l := matchAt(&t.rawMatch, s, i)
		if l == 0 {
			return dst, false
		}
		dst = append(dst, id)
		i += l
	}
	if limit >= 0 && len(dst)-body > limit {
		dst = dst[:body+limit]
	}
	return dst, true
}

// buildFast decides whether the fast path gives the same ids as the general
// path for its inputs, and fills the table of digit words.
func (t *Tokenizer) buildFast() {
	t.fast = false
	if len(t.pre) == 0 || t.normMatch.n > 0 {
		return
	}
	for _, p := range t.pre {
		switch p := p.(type) {
		case wsPre, wsSplitPre:
		case charPre:
			if p.c != ' ' {
				return
			}
		default:
			return
		}
	}
	for _, a := range t.added {
		if a.LStrip || a.RStrip || a.SingleWord || a.Content[0] != '<' {
			return
		}
		if strings.IndexFunc(a.Content, func(r rune) bool { return unicode.IsSpace(r) || (r >= '0' && r <= '9') }) >= 0 {
			return
		}
	}
	t.digitOff = make([]int32, digitWords+1)
	t.digitIDs = t.digitIDs[:0]
	for n := 1; n <= 3; n++ {
		count := []int{0, 10, 100, 1000}[n]
		for v := 0; v < count; v++ {
			k := digitBase[n] + v
			t.digitOff[k] = int32(len(t.digitIDs))
			w := fmt.Sprintf("%0*d", n, v)
			t.digitIDs = t.appendGeneral(t.digitIDs, w)
		}
	}
	t.digitOff[digitWords] = int32(len(t.digitIDs))
	for k := range t.digitOne {
		t.digitOne[k] = -1
		if t.digitOff[k+1] == t.digitOff[k]+1 {
			t.digitOne[k] = t.digitIDs[t.digitOff[k]]
		}
	}
	t.fast = true
}

// appendGeneral is the HF pipeline: split out added tokens, normalize,
// pre-tokenize, model.
func (t *Tokenizer) appendGeneral(dst []int32, text string) []int32 {
	t.rawMatch.split(text, func(seg string, id int32) {
		if id >= 0 {
			dst = append(dst, id)
			return
		}
		if t.lowercase {
			seg = strings.ToLower(seg)
		}
		t.normMatch.split(seg, func(seg string, id int32) {
			if id >= 0 {
				dst = append(dst, id)
				return
			}
			t.preTokenize(0, seg, func(w string) {
				dst = t.appendWord(dst, w)
			})
		})
	})
	return dst
}

func (t *Tokenizer) appendWord(dst []int32, w string) []int32 {
	if w == "" {
		return dst
	}
	if t.bpe != nil {
		return t.bpe.appendWord(dst, w, t.vocab, t.unkID)
	}
	if id, ok := t.vocab[w]; ok {
		return append(dst, id)
	}
	if t.unkID >= 0 {
		return append(dst, t.unkID)
	}
	return dst // HF raises here; we drop the word (documented)
}

func (t *Tokenizer) preTokenize(level int, s string, emit func(string)) {
	if level == len(t.pre) {
		if s != "" {
			emit(s)
		}
		return
	}
	t.pre[level].split(s, func(w string) { t.preTokenize(level+1, w, emit) })
}

// --- pre-tokenizers ---

type preTok interface {
	split(s string, emit func(string))
}

type wsPre struct{}      // Whitespace: \w+|[^\w\s]+
type wsSplitPre struct{} // WhitespaceSplit: split on whitespace
type charPre struct{ c rune }

func parsePreTokenizer(raw json.RawMessage) ([]preTok, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p struct {
		Type          string            `json:"type"`
		Delimiter     string            `json:"delimiter"`
		PreTokenizers []json.RawMessage `json:"pretokenizers"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %v", err)
	}
	switch p.Type {
	case "Whitespace":
		return []preTok{wsPre{}}, nil
	case "WhitespaceSplit":
		return []preTok{wsSplitPre{}}, nil
	case "CharDelimiterSplit":
		r, size := utf8.DecodeRuneInString(p.Delimiter)
		if size == 0 || size != len(p.Delimiter) || r == utf8.RuneError {
			return nil, fmt.Errorf("pre_tokenizer CharDelimiterSplit: delimiter %q is not one character", p.Delimiter)
		}
		return []preTok{charPre{r}}, nil
	case "Sequence":
		var out []preTok
		for _, s := range p.PreTokenizers {
			ps, err := parsePreTokenizer(s)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("pre_tokenizer %q is not supported (Whitespace, WhitespaceSplit, CharDelimiterSplit, Sequence are)", p.Type)
}

// isWord is regex \w in Unicode mode: alphabetic, marks, decimal digits,
// connector punctuation.
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.Is(unicode.Join_Control, r)
}

// isSpace is regex \s (Unicode White_Space).
func isSpace(r rune) bool { return unicode.IsSpace(r) }

func (wsPre) split(s string, emit func(string)) {
	const (
		none = iota
		word
		other
	)
	state, start := none, 0
	for i, r := range s {
		var c int
		switch {
		case isSpace(r):
			c = none
		case isWord(r):
			c = word
		default:
			c = other
		}
		if c != state {
			if state != none {
				emit(s[start:i])
			}
			state, start = c, i
		}
	}
	if state != none {
		emit(s[start:])
	}
}

func (wsSplitPre) split(s string, emit func(string)) {
	for _, w := range strings.FieldsFunc(s, isSpace) {
		emit(w)
	}
}

func (p charPre) split(s string, emit func(string)) {
	for len(s) > 0 {
		i := strings.IndexRune(s, p.c)
		if i < 0 {
			emit(s)
			return
		}
		if i > 0 {
			emit(s[:i])
		}
		s = s[i+utf8.RuneLen(p.c):]
	}
}

// --- added tokens ---

// matcher finds added tokens in text, leftmost-longest, as HF's
// AddedVocabulary does.
type matcher struct {
	n      int
	maxLen int
	first  [256][]AddedToken // by first byte, longest first
}

func newMatcher(toks []AddedToken) matcher {
	var m matcher
	for _, a := range toks {
		m.first[a.Content[0]] = append(m.first[a.Content[0]], a)
		m.n++
		m.maxLen = max(m.maxLen, len(a.Content))
	}
	for i := range m.first {
		l := m.first[i]
		sort.SliceStable(l, func(a, b int) bool { return len(l[a].Content) > len(l[b].Content) })
	}
	return m
}

// matchAt returns the id and length of the longest plain (no strip, no
// single-word) token starting at s[i:], or length 0.
func matchAt[S string | []byte](m *matcher, s S, i int) (int32, int) {
	for _, a := range m.first[s[i]] {
		c := a.Content
		if len(s)-i >= len(c) && string(s[i:i+len(c)]) == c {
			return a.ID, len(c)
		}
	}
	return 0, 0
}

// split calls fn for each piece of s in order: text between tokens with
// id -1, and each added token with its id.
func (m *matcher) split(s string, fn func(seg string, id int32)) {
	if m.n == 0 {
		if s != "" {
			fn(s, -1)
		}
		return
	}
	last := 0
	for i := 0; i < len(s); {
		var hit *AddedToken
		for k := range m.first[s[i]] {
			a := &m.first[s[i]][k]
			if !strings.HasPrefix(s[i:], a.Content) {
				continue
			}
			if a.SingleWord {
				before, _ := utf8.DecodeLastRuneInString(s[:i])
				after, _ := utf8.DecodeRuneInString(s[i+len(a.Content):])
				if (i > 0 && isWord(before)) || (i+len(a.Content) < len(s) && isWord(after)) {
					continue
				}
			}
			hit = a
			break
		}
		if hit == nil {
			i++
			continue
		}
		start, end := i, i+len(hit.Content)
		if hit.LStrip {
			for start > last {
				r, size := utf8.DecodeLastRuneInString(s[last:start])
				if !isSpace(r) {
					break
				}
				start -= size
			}
		}
		if hit.RStrip {
			for end < len(s) {
				r, size := utf8.DecodeRuneInString(s[end:])
				if !isSpace(r) {
					break
				}
				end += size
			}
		}
		if start > last {
			fn(s[last:start], -1)
		}
		fn(s[start:end], hit.ID)
		last, i = end, end
	}
	if last < len(s) {
		fn(s[last:], -1)
	}
}

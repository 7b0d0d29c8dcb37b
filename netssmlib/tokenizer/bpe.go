package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeModel is HF's BPE model without dropout.
type bpeModel struct {
	merges       map[[2]int32]bpeMerge
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	mu    sync.Mutex
	cache map[string][]int32
}

type bpeMerge struct {
	rank int
	id   int32
}

const bpeCacheMax = 1 << 16

func newBPE(vocab map[string]int32, m *modelJSON) (*bpeModel, error) {
	b := &bpeModel{
		merges:       map[[2]int32]bpeMerge{},
		fuseUnk:      m.FuseUnk,
		byteFallback: m.ByteFallback,
		ignoreMerges: m.IgnoreMerges,
		cache:        map[string][]int32{},
	}
	if m.ContinuingSubwordPrefix != nil {
		b.prefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		b.suffix = *m.EndOfWordSuffix
	}
	var pairs [][2]string
	if len(m.Merges) > 0 && string(m.Merges) != "null" {
		// Two spellings: ["a b", ...] (tokenizers < 0.20) and [["a","b"], ...].
		var asStrings []string
		if err := json.Unmarshal(m.Merges, &asStrings); err == nil {
			for i, s := range asStrings {
				a, c, ok := strings.Cut(s, " ")
				if !ok || a == "" || c == "" || strings.Contains(c, " ") {
					return nil, fmt.Errorf("BPE merge %d %q is not two tokens", i, s)
				}
				pairs = append(pairs, [2]string{a, c})
			}
		} else {
			var asPairs [][]string
			if err := json.Unmarshal(m.Merges, &asPairs); err != nil {
				return nil, fmt.Errorf("BPE merges: %v", err)
			}
			for i, p := range asPairs {
				if len(p) != 2 {
					return nil, fmt.Errorf("BPE merge %d has %d parts", i, len(p))
				}
				pairs = append(pairs, [2]string{p[0], p[1]})
			}
		}
	}
	for rank, p := range pairs {
		a, ok1 := vocab[p[0]]
		c, ok2 := vocab[p[1]]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("BPE merge %d (%q %q): a part is not in the vocab", rank, p[0], p[1])
		}
		second := p[1]
		if b.prefix != "" {
			second = strings.TrimPrefix(second, b.prefix)
		}
		id, ok := vocab[p[0]+second]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d (%q %q): the merged token is not in the vocab", rank, p[0], p[1])
		}
		if _, dup := b.merges[[2]int32{a, c}]; !dup {
			b.merges[[2]int32{a, c}] = bpeMerge{rank, id}
		}
	}
	return b, nil
}

func (b *bpeModel) appendWord(dst []int32, w string, vocab map[string]int32, unk int32) []int32 {
	b.mu.Lock()
	ids, ok := b.cache[w]
	b.mu.Unlock()
	if ok {
		return append(dst, ids...)
	}
	ids = b.word(w, vocab, unk)
	b.mu.Lock()
	if len(b.cache) >= bpeCacheMax {
		clear(b.cache)
	}
	b.cache[w] = ids
	b.mu.Unlock()
	return append(dst, ids...)
}

func (b *bpeModel) word(w string, vocab map[string]int32, unk int32) []int32 {
	if b.ignoreMerges {
		if id, ok := vocab[w]; ok {
			return []int32{id}
		}
	}
	var syms []int32
	lastUnk := false
	for i, r := range w {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			size = 1
		}
		s := w[i : i+size]
		if i > 0 {
			s = b.prefix + s
		}
		if i+size == len(w) {
			s += b.suffix
		}
		if id, ok := vocab[s]; ok {
			syms = append(syms, id)
			lastUnk = false
			continue
		}
		if b.byteFallback {
			var fb []int32
			for k := 0; k < size; k++ {
				id, ok := vocab[fmt.Sprintf("<0x%02X>", w[i+k])]
				if !ok {
					fb = nil
					break
				}
				fb = append(fb, id)
			}
			if fb != nil {
				syms = append(syms, fb...)
				lastUnk = false
				continue
			}
		}
		if unk >= 0 {
			if !(b.fuseUnk && lastUnk) {
				syms = append(syms, unk)
			}
			lastUnk = true
		}
	}
	// Merge the lowest-ranked adjacent pair (leftmost on ties) until none.
	for len(syms) > 1 {
		best, bestRank := -1, 0
		var bestID int32
		for i := 0; i+1 < len(syms); i++ {
			if m, ok := b.merges[[2]int32{syms[i], syms[i+1]}]; ok && (best < 0 || m.rank < bestRank) {
				best, bestRank, bestID = i, m.rank, m.id
			}
		}
		if best < 0 {
			break
		}
		syms[best] = bestID
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	return syms
}

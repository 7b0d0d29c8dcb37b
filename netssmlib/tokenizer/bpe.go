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
	return b.merge(syms)
}

// merge applies the merges to a word's symbols: repeatedly the lowest-ranked
// adjacent pair, leftmost first on ties, as HF's BPE does. A heap of
// candidate pairs and a linked list of symbols keep it O(n log n) for long
// words.
func (b *bpeModel) merge(syms []int32) []int32 {
	n := len(syms)
	if n < 2 {
		return syms
	}
	next := make([]int, n)
	prev := make([]int, n)
	alive := make([]bool, n)
	for i := range n {
		next[i], prev[i], alive[i] = i+1, i-1, true
	}
	var h pairHeap
	push := func(i int) {
		j := next[i]
		if i < 0 || j >= n {
			return
		}
		if m, ok := b.merges[[2]int32{syms[i], syms[j]}]; ok {
			h.push(pairCand{rank: m.rank, pos: i, left: syms[i], right: syms[j], id: m.id})
		}
	}
	for i := 0; i+1 < n; i++ {
		push(i)
	}
	for h.len() > 0 {
		c := h.pop()
		i := c.pos
		j := next[i]
		if !alive[i] || j >= n || syms[i] != c.left || syms[j] != c.right {
			continue // stale candidate
		}
		syms[i] = c.id
		alive[j] = false
		next[i] = next[j]
		if next[j] < n {
			prev[next[j]] = i
		}
		if prev[i] >= 0 {
			push(prev[i])
		}
		push(i)
	}
	out := syms[:0]
	for i := 0; i < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

type pairCand struct {
	rank, pos   int
	left, right int32
	id          int32
}

// pairHeap is a min-heap by (rank, pos).
type pairHeap struct{ a []pairCand }

func (h *pairHeap) len() int { return len(h.a) }

func (h *pairHeap) less(i, j int) bool {
	if h.a[i].rank != h.a[j].rank {
		return h.a[i].rank < h.a[j].rank
	}
	return h.a[i].pos < h.a[j].pos
}

func (h *pairHeap) push(c pairCand) {
	h.a = append(h.a, c)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.a[i], h.a[p] = h.a[p], h.a[i]
		i = p
	}
}

func (h *pairHeap) pop() pairCand {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.less(l, m) {
			m = l
		}
		if r < last && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h.a[i], h.a[m] = h.a[m], h.a[i]
		i = m
	}
	return top
}

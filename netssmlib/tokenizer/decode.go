package tokenizer

import "strings"

// Decode returns the text of ids as transformers' decode does for NetSSM's
// tokenizers (no decoder): the tokens joined by one space, ids that are no
// token skipped, special tokens dropped when skipSpecial is set, and
// clean_up_tokenization_spaces applied when the tokenizer_config.json asks.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	var b strings.Builder
	b.Grow(len(ids) * 4)
	first := true
	for _, id := range ids {
		tok, ok := t.Token(id)
		if !ok || (skipSpecial && t.IsSpecial(id)) {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(tok)
	}
	s := b.String()
	if t.cleanUp {
		s = cleanUpTokenization(s)
	}
	return s
}

// cleanUpTokenization is transformers' clean_up_tokenization.
func cleanUpTokenization(s string) string {
	if !strings.ContainsAny(s, ".?!,'") {
		return s
	}
	// transformers applies the replacements one after another, each over the
	// whole string; a Replacer scans once, so apply them in order instead.
	for _, p := range cleanUpPairs {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

var cleanUpPairs = [][2]string{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

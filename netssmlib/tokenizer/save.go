package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/netssm/netssm/internal/atomicfile"
)

// New builds the tokenizer NetSSM's create_tokenizer makes for the given
// traffic labels (without the <| |> around them, e.g. "netflix"): "0".."255"
// -> 0..255, <|unk|> 256, then <|endoftext|>, <|padding|>, <|pkt|> and one
// <|label|> per label, in order. A label given twice, or naming one of the
// built-in tokens, gets no second id (as HF's add_special_tokens).
func New(labels []string) (*Tokenizer, error) {
	if err := checkLabels(labels); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ")
	var added []AddedToken
	seen := map[string]bool{}
	next := int32(257)
	add := func(content string, id int32) {
		added = append(added, AddedToken{ID: id, Content: content, Special: true})
		seen[content] = true
	}
	add(UnkToken, 256)
	for _, s := range append([]string{EOSToken, PadToken, PktToken}, wrapLabels(labels)...) {
		if seen[s] {
			continue
		}
		add(s, next)
		next++
	}
	writeAddedTokens(&b, added)
	b.WriteString(",\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\n    \"type\": \"Whitespace\"\n  },\n")
	b.WriteString(netssmPostProcessor)
	b.WriteString("  \"decoder\": null,\n  \"model\": {\n    \"type\": \"WordLevel\",\n    \"vocab\": {\n")
	for i := 0; i < 256; i++ {
		fmt.Fprintf(&b, "      \"%d\": %d,\n", i, i)
	}
	b.WriteString("      \"<|unk|>\": 256\n    },\n    \"unk_token\": \"<|unk|>\"\n  }\n}")
	t, err := parse(b.Bytes(), "tokenizer.json")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: building NetSSM tokenizer: %v", err) // cannot happen
	}
	t.cleanUp = true
	if err := t.applyConfig(nil, nil, ""); err != nil {
		return nil, err
	}
	return t, nil
}

const netssmPostProcessor = `  "post_processor": {
    "type": "TemplateProcessing",
    "single": [
      {
        "Sequence": {
          "id": "A",
          "type_id": 0
        }
      }
    ],
    "pair": [
      {
        "Sequence": {
          "id": "A",
          "type_id": 0
        }
      },
      {
        "Sequence": {
          "id": "B",
          "type_id": 1
        }
      }
    ],
    "special_tokens": {}
  },
`

// ParseLabels splits a space-separated label list (the -special-tokens flag,
// NetSSM's --special_tokens) into labels.
func ParseLabels(s string) []string { return strings.Fields(s) }

func wrapLabels(labels []string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = labelPrefix + l + labelSuffix
	}
	return out
}

func checkLabels(labels []string) error {
	for _, l := range labels {
		if l == "" || strings.IndexFunc(l, unicode.IsSpace) >= 0 {
			return fmt.Errorf("tokenizer: label %q must be non-empty and contain no white space", l)
		}
		if len(l) > 1024 {
			return fmt.Errorf("tokenizer: label %.20q... is too long", l)
		}
	}
	return nil
}

// WithLabels returns a copy of t with one special <|label|> token added per
// new label (labels it already has are skipped). Every old id is kept; new
// ids follow the largest id in use, as HF's add_special_tokens assigns them.
// This is the "tokenizer with more labels" of NetSSM's fine-tuning flow: the
// model's embedding grows to the new VocabSize.
func (t *Tokenizer) WithLabels(labels ...string) (*Tokenizer, error) {
	if err := checkLabels(labels); err != nil {
		return nil, err
	}
	added := t.AddedTokens()
	next := t.maxID + 1
	for _, s := range wrapLabels(labels) {
		if _, ok := t.TokenID(s); ok {
			continue
		}
		dup := false
		for _, a := range added {
			if a.Content == s {
				dup = true
			}
		}
		if dup {
			continue
		}
		added = append(added, AddedToken{ID: next, Content: s, Special: true})
		next++
	}
	raw := t.raw
	var buf bytes.Buffer
	if err := spliceAddedTokens(&buf, raw, added); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", t.source, err)
	}
	nt, err := parse(buf.Bytes(), t.source)
	if err != nil {
		return nil, err
	}
	nt.rawConfig = t.rawConfig
	nt.cleanUp = t.cleanUp
	nt.extraCfg = t.extraCfg
	nt.eos, nt.pad, nt.eosID, nt.padID = t.eos, t.pad, t.eosID, t.padID
	return nt, nil
}

// spliceAddedTokens copies the tokenizer.json raw to w with its added_tokens
// array replaced, leaving every other byte as it was.
func spliceAddedTokens(w *bytes.Buffer, raw []byte, added []AddedToken) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errors.New("tokenizer.json is not an object")
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		start := dec.InputOffset()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if key != "added_tokens" {
			continue
		}
		end := dec.InputOffset()
		// start is just after the key; skip the colon and spaces.
		i := bytes.IndexByte(raw[start:end], ':')
		if i < 0 {
			return errors.New("malformed added_tokens")
		}
		i += int(start) + 1
		for i < int(end) && (raw[i] == ' ' || raw[i] == '\n' || raw[i] == '\t' || raw[i] == '\r') {
			i++
		}
		w.Write(raw[:i])
		writeAddedTokens(w, added)
		w.Write(raw[end:])
		return nil
	}
	return errors.New("tokenizer.json has no added_tokens")
}

// writeAddedTokens writes the added_tokens array as serde_json's pretty
// printer does at the top level of tokenizer.json.
func writeAddedTokens(b *bytes.Buffer, added []AddedToken) {
	if len(added) == 0 {
		b.WriteString("[]")
		return
	}
	b.WriteString("[\n")
	for i, a := range added {
		fmt.Fprintf(b, "    {\n      \"id\": %d,\n      \"content\": %s,\n      \"single_word\": %t,\n      \"lstrip\": %t,\n      \"rstrip\": %t,\n      \"normalized\": %t,\n      \"special\": %t\n    }",
			a.ID, quote(a.Content), a.SingleWord, a.LStrip, a.RStrip, a.Normalized, a.Special)
		if i < len(added)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("  ]")
}

// quote writes a JSON string as serde_json and Python's json (ensure_ascii
// off) do: only '"', '\\' and control characters are escaped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TokenizerJSON returns the tokenizer.json text (for a tokenizer built by New,
// byte-identical to what HF tokenizers writes for it).
func (t *Tokenizer) TokenizerJSON() []byte { return append([]byte(nil), t.raw...) }

// ConfigJSON returns tokenizer_config.json as transformers 4.x writes it for
// NetSSM's tokenizers (sorted keys, two-space indent, trailing newline).
// Keys of a loaded config that this package does not manage are kept.
func (t *Tokenizer) ConfigJSON() []byte {
	cfg := map[string]string{}
	if t.rawConfig != nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(t.rawConfig, &m) == nil {
			for k, v := range m {
				var ind bytes.Buffer
				if json.Indent(&ind, v, "  ", "  ") == nil {
					cfg[k] = ind.String()
				}
			}
		}
		// transformers 5 keys that 4.x does not know.
		delete(cfg, "backend")
	}
	var dec bytes.Buffer
	dec.WriteString("{")
	ids := make([]string, 0, len(t.added))
	byKey := map[string]AddedToken{}
	for _, a := range t.added {
		k := strconv.Itoa(int(a.ID))
		ids = append(ids, k)
		byKey[k] = a
	}
	sort.Strings(ids) // Python's sort_keys sorts the id strings as strings
	for i, k := range ids {
		a := byKey[k]
		if i > 0 {
			dec.WriteByte(',')
		}
		fmt.Fprintf(&dec, "\n    %s: {\n      \"content\": %s,\n      \"lstrip\": %t,\n      \"normalized\": %t,\n      \"rstrip\": %t,\n      \"single_word\": %t,\n      \"special\": %t\n    }",
			quote(k), quote(a.Content), a.LStrip, a.Normalized, a.RStrip, a.SingleWord, a.Special)
	}
	if len(ids) > 0 {
		dec.WriteString("\n  ")
	}
	dec.WriteString("}")
	cfg["added_tokens_decoder"] = dec.String()
	cfg["clean_up_tokenization_spaces"] = strconv.FormatBool(t.cleanUp)
	set := func(key, tok string) {
		if tok != "" {
			cfg[key] = quote(tok)
		} else {
			delete(cfg, key)
		}
	}
	set("eos_token", t.eos)
	set("pad_token", t.pad)
	set("unk_token", t.unk)
	if _, ok := cfg["extra_special_tokens"]; !ok {
		cfg["extra_special_tokens"] = "{}"
	}
	if _, ok := cfg["model_max_length"]; !ok {
		cfg["model_max_length"] = "1000000000000000019884624838656" // int(1e30), transformers' VERY_LARGE_INTEGER
	}
	cfg["tokenizer_class"] = `"PreTrainedTokenizerFast"`
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n  %s: %s", quote(k), cfg[k])
	}
	b.WriteString("\n}\n")
	return b.Bytes()
}

// SpecialTokensMapJSON returns special_tokens_map.json as transformers 4.x
// writes it.
func (t *Tokenizer) SpecialTokensMapJSON() []byte {
	var parts []string
	for _, kv := range [][2]string{{"eos_token", t.eos}, {"pad_token", t.pad}, {"unk_token", t.unk}} {
		if kv[1] != "" {
			parts = append(parts, fmt.Sprintf("  %s: %s", quote(kv[0]), quote(kv[1])))
		}
	}
	if len(parts) == 0 {
		return []byte("{}\n")
	}
	return []byte("{\n" + strings.Join(parts, ",\n") + "\n}\n")
}

// Save writes the tokenizer folder (tokenizer.json, tokenizer_config.json,
// special_tokens_map.json) into dir, creating it if needed. Each file is
// written to a temporary name and renamed, so a crash never leaves half a
// file.
func (t *Tokenizer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{TokenizerFile, t.raw},
		{ConfigFile, t.ConfigJSON()},
		{SpecialTokensFile, t.SpecialTokensMapJSON()},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File names of a HuggingFace tokenizer folder.
const (
	TokenizerFile     = "tokenizer.json"
	ConfigFile        = "tokenizer_config.json"
	SpecialTokensFile = "special_tokens_map.json"
)

// NetSSM's token names (NETSSM.md section 2).
const (
	EOSToken     = "<|endoftext|>"
	PadToken     = "<|padding|>"
	PktToken     = "<|pkt|>"
	UnkToken     = "<|unk|>"
	labelPrefix  = "<|"
	labelSuffix  = "|>"
	maxTokenSize = 1 << 16
)

// AddedToken is an entry of tokenizer.json's added_tokens.
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// Tokenizer is a loaded HuggingFace tokenizer. It is safe for concurrent use
// by several goroutines once built (the BPE word cache is guarded).
type Tokenizer struct {
	modelType string // "WordLevel" or "BPE"
	vocab     map[string]int32
	unk       string // model unk token ("" if none)
	unkID     int32  // -1 if none
	bpe       *bpeModel

	added        []AddedToken // sorted by id
	addedByText  map[string]int32
	addedByID    map[int32]int
	rawMatch     matcher // added tokens matched on the raw text
	normMatch    matcher // added tokens matched after normalization
	lowercase    bool    // normalizer
	pre          []preTok
	prefix       []int32 // post-processor (TemplateProcessing) ids
	suffix       []int32
	idToToken    []string // model vocab by id ("" = hole)
	cleanUp      bool     // clean_up_tokenization_spaces
	eos, pad     string
	eosID, padID int32
	maxID        int32

	fast      bool              // fast path usable
	digitOff  []int32           // offsets into digitIDs, 1111 entries (words "0".."999","00".."099","000"..)
	digitIDs  []int32           // ids of digit words
	digitOne  [digitWords]int32 // the id of a digit word that is one token, else -1
	raw       []byte            // tokenizer.json as loaded (nil when built by New)
	rawConfig []byte            // tokenizer_config.json as loaded
	source    string            // where it came from, for errors
	extraCfg  configExt         // what tokenizer_config.json said
}

type configExt struct {
	ModelMaxLength json.RawMessage
}

// Load reads a tokenizer from a HuggingFace tokenizer folder or from a
// tokenizer.json file. In a folder, tokenizer_config.json and
// special_tokens_map.json name the eos, pad and unk tokens; when they are
// absent (as in NetSSM's pretrained tokenizer) NetSSM's names are used if the
// vocabulary has them.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	file, dir := path, filepath.Dir(path)
	if st.IsDir() {
		dir = path
		file = filepath.Join(path, TokenizerFile)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := parse(data, file)
	if err != nil {
		return nil, err
	}
	var cfg map[string]json.RawMessage
	if b, err := os.ReadFile(filepath.Join(dir, ConfigFile)); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %v", filepath.Join(dir, ConfigFile), err)
		}
		t.rawConfig = b
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var smap map[string]json.RawMessage
	if b, err := os.ReadFile(filepath.Join(dir, SpecialTokensFile)); err == nil {
		if err := json.Unmarshal(b, &smap); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %v", filepath.Join(dir, SpecialTokensFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if err := t.applyConfig(cfg, smap, filepath.Join(dir, ConfigFile)); err != nil {
		return nil, err
	}
	return t, nil
}

// Parse reads a tokenizer.json held in memory. The eos and pad tokens are
// NetSSM's (<|endoftext|>, <|padding|>) when the vocabulary has them, and
// clean_up_tokenization_spaces is off (transformers' default).
func Parse(data []byte) (*Tokenizer, error) {
	t, err := parse(data, "tokenizer.json")
	if err != nil {
		return nil, err
	}
	if err := t.applyConfig(nil, nil, ""); err != nil {
		return nil, err
	}
	return t, nil
}

// special token value in tokenizer_config.json / special_tokens_map.json:
// a string or an AddedToken object.
func tokenName(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Content != "" {
		return obj.Content, true
	}
	return "", false
}

func (t *Tokenizer) applyConfig(cfg, smap map[string]json.RawMessage, cfgName string) error {
	pick := func(key, def string) string {
		if v, ok := tokenName(cfg[key]); ok {
			return v
		}
		if v, ok := tokenName(smap[key]); ok {
			return v
		}
		if _, ok := t.TokenID(def); ok {
			return def
		}
		return ""
	}
	t.eos = pick("eos_token", EOSToken)
	t.pad = pick("pad_token", PadToken)
	t.eosID, t.padID = -1, -1
	if t.eos != "" {
		id, ok := t.TokenID(t.eos)
		if !ok {
			return fmt.Errorf("tokenizer: %s: eos_token %q is not in the vocabulary", cfgName, t.eos)
		}
		t.eosID = id
	}
	if t.pad != "" {
		id, ok := t.TokenID(t.pad)
		if !ok {
			return fmt.Errorf("tokenizer: %s: pad_token %q is not in the vocabulary", cfgName, t.pad)
		}
		t.padID = id
	}
	if v, ok := cfg["clean_up_tokenization_spaces"]; ok {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("tokenizer: %s: clean_up_tokenization_spaces: %v", cfgName, err)
		}
		t.cleanUp = b
	}
	if v, ok := cfg["model_max_length"]; ok {
		t.extraCfg.ModelMaxLength = v
	}
	return nil
}

type fileJSON struct {
	Version       string          `json:"version"`
	AddedTokens   []AddedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *modelJSON      `json:"model"`
}

type modelJSON struct {
	Type                    string           `json:"type"`
	Vocab                   map[string]int64 `json:"vocab"`
	UnkToken                *string          `json:"unk_token"`
	Merges                  json.RawMessage  `json:"merges"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Dropout                 *float64         `json:"dropout"`
}

const maxID = 1 << 24 // far above any tokenizer NetSSM uses; bounds memory on bad files

func parse(data []byte, name string) (*Tokenizer, error) {
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: not a tokenizer.json: %v", name, err)
	}
	if f.Model == nil {
		return nil, fmt.Errorf("tokenizer: %s: no model", name)
	}
	t := &Tokenizer{
		vocab:       make(map[string]int32, len(f.Model.Vocab)),
		addedByText: map[string]int32{},
		addedByID:   map[int32]int{},
		unkID:       -1,
		source:      name,
		maxID:       -1,
	}
	m := f.Model
	t.modelType = m.Type
	if t.modelType == "" { // untagged (old files): BPE has merges
		t.modelType = "WordLevel"
		if len(m.Merges) > 0 {
			t.modelType = "BPE"
		}
	}
	if m.Vocab == nil {
		return nil, fmt.Errorf("tokenizer: %s: model %s has no vocab object", name, t.modelType)
	}
	for w, id := range m.Vocab {
		if id < 0 || id >= maxID {
			return nil, fmt.Errorf("tokenizer: %s: vocab entry %q has id %d out of range", name, w, id)
		}
		t.vocab[w] = int32(id)
		if int32(id) > t.maxID {
			t.maxID = int32(id)
		}
	}
	t.idToToken = make([]string, t.maxID+1)
	for w, id := range t.vocab {
		if t.idToToken[id] != "" && t.idToToken[id] != w {
			// HF keeps one of them; keep the smaller string for determinism.
			if w > t.idToToken[id] {
				continue
			}
		}
		t.idToToken[id] = w
	}
	switch t.modelType {
	case "WordLevel":
		if m.UnkToken != nil {
			t.unk = *m.UnkToken
		}
	case "BPE":
		if m.Dropout != nil && *m.Dropout != 0 {
			return nil, fmt.Errorf("tokenizer: %s: BPE dropout is not supported", name)
		}
		b, err := newBPE(t.vocab, m)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %v", name, err)
		}
		t.bpe = b
		if m.UnkToken != nil {
			t.unk = *m.UnkToken
		}
	default:
		return nil, fmt.Errorf("tokenizer: %s: model type %q is not supported (WordLevel and BPE are)", name, m.Type)
	}
	if t.unk != "" {
		if id, ok := t.vocab[t.unk]; ok {
			t.unkID = id
		}
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= maxID {
			return nil, fmt.Errorf("tokenizer: %s: added token %q has id %d out of range", name, a.Content, a.ID)
		}
		if a.Content == "" || len(a.Content) > maxTokenSize {
			return nil, fmt.Errorf("tokenizer: %s: added token %d has an empty or oversized content", name, a.ID)
		}
		if _, dup := t.addedByText[a.Content]; dup {
			return nil, fmt.Errorf("tokenizer: %s: added token %q listed twice", name, a.Content)
		}
		t.addedByText[a.Content] = a.ID
		t.added = append(t.added, a)
		if a.ID > t.maxID {
			t.maxID = a.ID
		}
	}
	sort.SliceStable(t.added, func(i, j int) bool { return t.added[i].ID < t.added[j].ID })
	for i, a := range t.added {
		if _, dup := t.addedByID[a.ID]; dup {
			return nil, fmt.Errorf("tokenizer: %s: two added tokens have id %d", name, a.ID)
		}
		t.addedByID[a.ID] = i
	}
	if err := t.parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", name, err)
	}
	pre, err := parsePreTokenizer(f.PreTokenizer)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", name, err)
	}
	t.pre = pre
	if err := t.parsePostProcessor(f.PostProcessor); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", name, err)
	}
	if err := parseDecoder(f.Decoder); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", name, err)
	}
	t.raw = data
	t.build()
	return t, nil
}

func (t *Tokenizer) parseNormalizer(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("normalizer: %v", err)
	}
	switch n.Type {
	case "Lowercase":
		t.lowercase = true
	case "Sequence":
		for _, s := range n.Normalizers {
			if err := t.parseNormalizer(s); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("normalizer %q is not supported (Lowercase is)", n.Type)
	}
	return nil
}

func parseDecoder(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var d struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("decoder: %v", err)
	}
	return fmt.Errorf("decoder %q is not supported (only none, as NetSSM's tokenizers have)", d.Type)
}

func (t *Tokenizer) parsePostProcessor(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var p struct {
		Type   string `json:"type"`
		Single []struct {
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int64 `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("post_processor: %v", err)
	}
	if p.Type != "TemplateProcessing" {
		return fmt.Errorf("post_processor %q is not supported (TemplateProcessing is)", p.Type)
	}
	seen := false
	for _, piece := range p.Single {
		switch {
		case piece.Sequence != nil:
			if seen {
				return errors.New("post_processor: single template has two sequences")
			}
			seen = true
		case piece.SpecialToken != nil:
			st, ok := p.SpecialTokens[piece.SpecialToken.ID]
			if !ok {
				return fmt.Errorf("post_processor: special token %q is not defined", piece.SpecialToken.ID)
			}
			for _, id := range st.IDs {
				if id < 0 || id >= maxID {
					return fmt.Errorf("post_processor: id %d out of range", id)
				}
				if seen {
					t.suffix = append(t.suffix, int32(id))
				} else {
					t.prefix = append(t.prefix, int32(id))
				}
			}
		default:
			return errors.New("post_processor: unknown piece in single template")
		}
	}
	return nil
}

// build prepares the matchers and the fast path after the tables are set.
func (t *Tokenizer) build() {
	var raw, norm []AddedToken
	for _, a := range t.added {
		if a.Normalized && t.lowercase {
			norm = append(norm, a)
		} else {
			raw = append(raw, a)
		}
	}
	t.rawMatch = newMatcher(raw)
	t.normMatch = newMatcher(norm)
	t.buildFast()
}

// TokenID returns the id of a token (added tokens first, then the model's
// vocabulary), as HF's token_to_id does.
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	if id, ok := t.addedByText[tok]; ok {
		return id, true
	}
	id, ok := t.vocab[tok]
	return id, ok
}

// Token returns the text of a token id ("" and false if no token has it).
func (t *Tokenizer) Token(id int32) (string, bool) {
	if i, ok := t.addedByID[id]; ok {
		return t.added[i].Content, true
	}
	if id >= 0 && int(id) < len(t.idToToken) && t.idToToken[id] != "" {
		return t.idToToken[id], true
	}
	return "", false
}

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int32) bool {
	i, ok := t.addedByID[id]
	return ok && t.added[i].Special
}

// VocabSize is len(tokenizer) in transformers: the number of distinct ids
// (model vocabulary plus added tokens not in it). A model's embedding must
// have at least MaxID()+1 rows.
func (t *Tokenizer) VocabSize() int {
	n := len(t.vocab)
	for _, a := range t.added {
		if _, ok := t.vocab[a.Content]; !ok {
			n++
		}
	}
	return n
}

// MaxID is the largest id of any token.
func (t *Tokenizer) MaxID() int32 { return t.maxID }

// EOS returns the end-of-text token id, or -1 if the tokenizer has none.
func (t *Tokenizer) EOS() int32 { return t.eosID }

// Pad returns the padding token id, or -1 if the tokenizer has none.
func (t *Tokenizer) Pad() int32 { return t.padID }

// Unk returns the unknown-word token id, or -1 if the model has none.
func (t *Tokenizer) Unk() int32 { return t.unkID }

// ModelType is "WordLevel" or "BPE".
func (t *Tokenizer) ModelType() string { return t.modelType }

// AddedTokens returns a copy of the added tokens, by id.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// Labels returns the traffic labels of the tokenizer: the special added
// tokens of the form <|name|> other than NetSSM's own (<|endoftext|>,
// <|padding|>, <|pkt|>, <|unk|>), by id.
func (t *Tokenizer) Labels() []string {
	var out []string
	for _, a := range t.added {
		switch a.Content {
		case EOSToken, PadToken, PktToken, UnkToken:
			continue
		}
		if a.Special && strings.HasPrefix(a.Content, labelPrefix) && strings.HasSuffix(a.Content, labelSuffix) && len(a.Content) > 4 {
			out = append(out, a.Content[2:len(a.Content)-2])
		}
	}
	return out
}

// AddedSpecial is the number of ids the post-processor adds around every
// encoded text (0 for NetSSM's tokenizers).
func (t *Tokenizer) AddedSpecial() int { return len(t.prefix) + len(t.suffix) }

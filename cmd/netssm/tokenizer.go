package main

import (
	"context"
	"fmt"
	"os"

	"github.com/netssm/netssm/netssmlib/tokenizer"
)

func init() {
	register(&command{
		name:    "tokenizer",
		summary: "write a HuggingFace tokenizer folder for traffic labels (NetSSM's create_tokenizer)",
		run:     runTokenizer,
	})
}

func runTokenizer(ctx context.Context, args []string) error {
	fs := newFlagSet("tokenizer", `-special-tokens "netflix amazon" -out DIR [-from DIR]`)
	var labels, out, from string
	fs.StringVar(&labels, "special-tokens", "", "traffic labels, space separated; each becomes a <|label|> token")
	fs.StringVar(&labels, "special_tokens", "", "alias of -special-tokens (NetSSM's spelling)")
	fs.StringVar(&out, "out", "", "folder to write the tokenizer into")
	fs.StringVar(&out, "tokenizer_name", "", "alias of -out (NetSSM's spelling)")
	fs.StringVar(&from, "from", "", "extend this existing tokenizer (folder or tokenizer.json) with the labels, keeping its ids (for fine-tuning on new labels)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if out == "" {
		return fmt.Errorf("%w: -out is required", errUsage)
	}
	var tok *tokenizer.Tokenizer
	var err error
	if from != "" {
		base, err := tokenizer.Load(from)
		if err != nil {
			return err
		}
		tok, err = base.WithLabels(tokenizer.ParseLabels(labels)...)
		if err != nil {
			return err
		}
	} else {
		tok, err = tokenizer.New(tokenizer.ParseLabels(labels))
		if err != nil {
			return err
		}
	}
	if err := tok.Save(out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d tokens, labels %v\n", out, tok.VocabSize(), tok.Labels())
	return nil
}

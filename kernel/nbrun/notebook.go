package nbrun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Notebook is an nbformat 4 notebook. Fields this package does not
// interpret are kept verbatim in Extra and in each cell's raw map.
type Notebook struct {
	Cells         []Cell
	Metadata      map[string]any
	NBFormat      int
	NBFormatMinor int
	Extra         map[string]json.RawMessage
}

// Cell is one cell; Raw holds all its fields.
type Cell struct {
	Raw map[string]json.RawMessage
}

// Type returns cell_type.
func (c Cell) Type() string {
	var s string
	json.Unmarshal(c.Raw["cell_type"], &s)
	return s
}

// Source returns the cell's source (a string or a list of strings in the file).
func (c Cell) Source() string { return multiline(c.Raw["source"]) }

func multiline(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []string
	if json.Unmarshal(raw, &parts) == nil {
		return strings.Join(parts, "")
	}
	return ""
}

// Parse decodes an nbformat 4 notebook. name is used in errors.
func Parse(name string, data []byte) (*Notebook, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%s: not a notebook: %v", name, err)
	}
	nb := &Notebook{Extra: map[string]json.RawMessage{}}
	if err := json.Unmarshal(top["nbformat"], &nb.NBFormat); err != nil || nb.NBFormat != 4 {
		return nil, fmt.Errorf("%s: nbformat %s is not supported (want 4)", name, strings.TrimSpace(string(top["nbformat"])))
	}
	json.Unmarshal(top["nbformat_minor"], &nb.NBFormatMinor)
	if raw, ok := top["metadata"]; ok {
		if err := json.Unmarshal(raw, &nb.Metadata); err != nil {
			return nil, fmt.Errorf("%s: metadata: %v", name, err)
		}
	}
	if nb.Metadata == nil {
		nb.Metadata = map[string]any{}
	}
	var cells []map[string]json.RawMessage
	if err := json.Unmarshal(top["cells"], &cells); err != nil {
		return nil, fmt.Errorf("%s: cells: %v", name, err)
	}
	for i, c := range cells {
		if c == nil {
			return nil, fmt.Errorf("%s: cell %d is not an object", name, i+1)
		}
		cell := Cell{Raw: c}
		switch cell.Type() {
		case "code", "markdown", "raw":
		default:
			return nil, fmt.Errorf("%s: cell %d has cell_type %s", name, i+1, strings.TrimSpace(string(c["cell_type"])))
		}
		if _, ok := c["metadata"]; !ok {
			c["metadata"] = json.RawMessage("{}")
		}
		if _, ok := c["id"]; !ok && (nb.NBFormatMinor >= 5) {
			c["id"] = mustJSON(fmt.Sprintf("cell-%d", i+1)) // ids are required from 4.5 on
		}
		nb.Cells = append(nb.Cells, cell)
	}
	for k, v := range top {
		switch k {
		case "cells", "metadata", "nbformat", "nbformat_minor":
		default:
			nb.Extra[k] = v
		}
	}
	return nb, nil
}

// Marshal encodes the notebook as Jupyter writes it (one-space indent,
// sorted keys, trailing newline).
func (nb *Notebook) Marshal() ([]byte, error) {
	top := map[string]any{}
	for k, v := range nb.Extra {
		top[k] = v
	}
	cells := make([]map[string]json.RawMessage, len(nb.Cells))
	for i, c := range nb.Cells {
		cells[i] = c.Raw
	}
	top["cells"] = cells
	top["metadata"] = nb.Metadata
	top["nbformat"] = nb.NBFormat
	top["nbformat_minor"] = nb.NBFormatMinor
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(top); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

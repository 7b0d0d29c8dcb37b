// Package wire holds the Jupyter messaging protocol (version 5.3) as Go
// values and the two websocket framings that Jupyter Server speaks:
//
//   - the legacy framing: one JSON text frame per message
//     {header, parent_header, metadata, content, buffers, channel}, or, when
//     a message carries binary buffers, a binary frame of big-endian uint32
//     offsets followed by the JSON and the buffers;
//   - the v1.kernel.websocket.jupyter.org framing: a binary frame of
//     little-endian uint64 offsets followed by channel, header,
//     parent_header, metadata, content and buffers.
//
// The package does no I/O and keeps no state. Every decoder checks lengths
// and types before it uses them and reports malformed input as an error,
// never a panic (see the fuzz tests). Content stays raw JSON in [Message];
// [DecodeContent] turns it into the typed struct of a msg_type, and the
// typed reply structs are what the dispatcher sends.
//
// Cursor positions: Jupyter counts cursor_pos in Unicode code points per
// the spec, but JupyterLab sends UTF-16 code units (JavaScript string
// indices). This package follows JupyterLab, the client that matters in
// practice: [CursorToByte] and [ByteToCursor] convert between UTF-16 code
// units and byte offsets into UTF-8 text. For text in the Basic
// Multilingual Plane both conventions agree.
package wire

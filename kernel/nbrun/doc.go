// Package nbrun executes Jupyter notebooks (nbformat 4) on a kernel
// engine, as nbclient does for Python: every code cell runs in order in one
// fresh kernel, and its outputs (streams, execute results, display data
// with update_display_data and clear_output applied, errors) and execution
// count are written back into the notebook. Everything else in the file
// (metadata, attachments, unknown fields, markdown cells) is kept.
//
// Execution stops at the first cell that fails; [Run] returns a
// *[CellError] naming the cell, and the notebook holds the outputs up to
// and including the failing cell.
package nbrun

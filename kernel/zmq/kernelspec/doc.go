// Package kernelspec writes and removes the Jupyter kernelspec of the
// netssm Go kernel: a folder KERNELS/NAME holding kernel.json (argv that
// runs this netssm binary's zmq-kernel command with the connection file,
// display name "Go (netssm)", language go, interrupt_mode) and the logos
// logo-32x32.png and logo-64x64.png, drawn here in Go at install time.
//
// The folders follow jupyter_core: the user's data dir ($JUPYTER_DATA_DIR,
// else $XDG_DATA_HOME/jupyter or ~/.local/share/jupyter on Linux,
// ~/Library/Jupyter on macOS, %APPDATA%\jupyter on Windows), a prefix's
// PREFIX/share/jupyter, or the system-wide /usr/local/share/jupyter.
package kernelspec

// Package dispatchtest provides a fake [dispatch.Engine] that runs a tiny
// line-oriented command language instead of Go, so that the dispatcher and
// the transports can be tested without child processes.
//
// Each line of a cell is one command:
//
//	out TEXT        write TEXT and a newline to stdout
//	err TEXT        write TEXT and a newline to stderr
//	png             display a 1x1 PNG
//	display ID TEXT display text/plain TEXT with display_id ID
//	update ID TEXT  update display ID
//	set NAME VALUE  set a variable
//	= NAME          the cell's result: the variable's value, or NAME itself
//	input PROMPT    read a line and write it to stdout
//	sleep DURATION  sleep (interruptible)
//	loop            spin until interrupted (like for {})
//	panic TEXT      fail with a panic error naming the line
//	exit            kill the engine (like os.Exit in a cell)
package dispatchtest

// Package dispatch is the message handling of one kernel, independent of
// the transport: it turns Jupyter requests (as [wire.Message] values) into
// calls on an [Engine] (a *proc.Kernel in production, a fake in tests) and
// produces the replies and iopub broadcasts the protocol asks for.
//
// What it does: busy/idle status around every request, execute_input,
// execution_count, execute_result, error, stream and display messages,
// silent and store_history, stop_on_error (queued executes are aborted
// after an error), user_expressions, history (tail, range, search),
// comm_info and comm_open/msg/close (no comm targets exist, so a comm_open
// is answered with comm_close), complete/inspect with UTF-16 cursor
// conversion, is_complete, input_request over stdin when the request
// allows it, interrupt, shutdown, restart, and kernel death: when the
// engine's child process dies the dispatcher reports it, publishes status
// "restarting" and restarts the engine, as Jupyter Server's restarter does.
//
// What it leaves to others: sockets, framing and authentication (package
// server for websockets; a ZMQ transport would sign and route but reuse
// this package unchanged). A transport calls [Kernel.Handle] for every
// incoming message with a [Conn] that can reach the sender (for shell and
// control replies and stdin requests) and receives iopub messages through
// the publish function given to [New].
package dispatch

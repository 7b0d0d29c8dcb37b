// Package server serves notebook kernels over the Jupyter Server / Kernel
// Gateway REST and websocket API, so that unmodified Jupyter clients
// (@jupyterlab/services, Jupyter Server or Notebook 6 with --gateway-url,
// nbclient's gateway kernel manager) can start, drive and stop netssm
// kernels.
//
// Endpoints (all under the API token, given as "Authorization: token T",
// "Authorization: Bearer T" or "?token=T"; the token is compared in
// constant time):
//
//	GET    /api                              {"version"}
//	GET    /api/status                       started, last_activity, kernels, connections
//	GET    /api/kernelspecs                  {"default", "kernelspecs": {name: spec}}
//	GET    /api/kernelspecs/{name}
//	GET    /kernelspecs/{name}/{file}        logos (no /api, as in Jupyter)
//	GET    /api/kernels                      [model]
//	POST   /api/kernels                      {"name", "env"} -> 201 model
//	GET    /api/kernels/{id}                 model
//	DELETE /api/kernels/{id}                 204
//	POST   /api/kernels/{id}/interrupt       204
//	POST   /api/kernels/{id}/restart         200 model
//	GET    /api/kernels/{id}/channels        websocket
//	GET    /api/sessions                     [session]
//	POST   /api/sessions                     {"path","name","type","kernel":{"name"|"id"}} -> 201
//	GET    /api/sessions/{id}
//	PATCH  /api/sessions/{id}                change path, name, type or kernel
//	DELETE /api/sessions/{id}                204; shuts its kernel down
//
// Of the env a client sends when starting a kernel only KERNEL_* variables
// are used (a Jupyter Server in gateway mode sends its whole environment);
// KERNEL_WORKING_DIR sets the kernel's working directory.
//
// The websocket speaks both framings of package wire: when the client
// offers the v1.kernel.websocket.jupyter.org subprotocol it is chosen,
// otherwise legacy JSON frames are used. Websocket upgrades and API
// requests that carry an Origin header other than the server's own are
// refused unless the origin is allowed ([Options.AllowOrigins]). A frame
// that cannot be decoded closes that connection with status 1007 and a
// reason; the kernel and its other connections are unaffected.
//
// Message handling is package dispatch; the engine that runs cells is
// given by [Options.NewEngine] (kernel/proc in the netssm command).
package server

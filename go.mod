module github.com/netssm/netssm

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/go-zeromq/zmq4 v0.17.0
	github.com/traefik/yaegi v0.16.1
	golang.org/x/term v0.48.0
)

require (
	github.com/go-zeromq/goczmq/v4 v4.2.2 // indirect
	golang.org/x/sync v0.7.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.15.0 // indirect
)

module github.com/netssm/netssm

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/google/gopacket v1.1.19
	github.com/traefik/yaegi v0.16.1
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

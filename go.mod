module github.com/netssm/netssm

go 1.26.0

require github.com/traefik/yaegi v0.16.1

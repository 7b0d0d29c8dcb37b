module github.com/netssm/netssm

go 1.26

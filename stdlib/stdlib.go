package stdlib

import "reflect"

// Symbols maps "importpath/pkgname" to the exported symbols of netssm's own
// packages that cells may import. The generated files below fill it; the
// kernel loads it beside yaegi's Go standard library symbols.
var Symbols = map[string]map[string]reflect.Value{}

// One line per package; `go generate ./stdlib/...` regenerates the
// symbol files and .ci/setup.d/generate-check.sh fails CI when the
// committed ones are stale. To expose a new netssmlib package, add its line.
//
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/stdlib/display
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/stdlib/plot
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/stdlib/nb
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/checkpoint
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/convert
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/dataset
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/fidelity
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/generate
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/mamba
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/pcapio
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/preprocess
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/tokenizer
//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib github.com/netssm/netssm/netssmlib/train

//go:build cudaemu && !cuda

package cuda

import (
	"testing"

	"github.com/netssm/netssm/gpu"
)

// TestElemVecWidth checks the vector widths the memory-bound kernels are
// launched with: NetSSM's operands (column slices of the in_proj output
// included) get 4-element accesses, and a view whose pointer, stride or row
// length is not a multiple of the width gets a narrower one.
func TestElemVecWidth(t *testing.T) {
	be := OpenEmulator()
	const DP, CD, DI = 3352, 1792, 1536
	zx, _ := be.Alloc(gpu.BF16, 4*DP)
	h, _ := be.Alloc(gpu.F32, 4*768)
	w, _ := be.Alloc(gpu.F32, 768)
	m := func(v gpu.Mat) vop { return vmat(be.mat(v)) }
	for _, c := range []struct {
		name string
		cols int
		ops  []vop
		want int
	}{
		{"conv x = zx[:, 1536:3328]", CD, []vop{m(gpu.Cols(zx, DP, DI))}, 4},
		{"gated z = zx[:, :1536]", DI, []vop{m(gpu.Cols(zx, DP, 0))}, 4},
		{"norm f32 rows and weight", 768, []vop{m(gpu.Dense(h, 768)), vvec(be.vec(w))}, 4},
		{"offset 2 (4 bytes)", CD, []vop{m(gpu.Cols(zx, DP, 2))}, 2},
		{"offset 1", CD, []vop{m(gpu.Cols(zx, DP, 1))}, 1},
		{"odd stride", 8, []vop{m(gpu.Cols(zx, 11, 0))}, 1},
		{"row length 6", 6, []vop{m(gpu.Dense(h, 768))}, 2},
		{"f32 offset 2 (8 bytes)", 8, []vop{m(gpu.Cols(h, 768, 2))}, 2},
		{"absent optional operand", 768, []vop{m(gpu.Dense(h, 768)), {}}, 4},
	} {
		if got := vecWidth(c.cols, c.ops...); got != c.want {
			t.Errorf("%s: vector width %d, want %d", c.name, got, c.want)
		}
	}
	for _, c := range []struct{ dim, v, vec, threads int }{
		{768, 4, 4, 96}, {1536, 4, 4, 192}, {4096, 4, 4, 512}, {4096, 2, 2, 512}, {2048, 1, 1, 512}, {2050, 1, 0, 256},
		{4097, 4, 0, 256}, {200, 2, 2, 32},
	} {
		vec, threads := normLayout(c.dim, c.v)
		if vec != c.vec || threads != c.threads {
			t.Errorf("normLayout(%d, %d) = %d, %d; want %d, %d", c.dim, c.v, vec, threads, c.vec, c.threads)
		}
		if vec > 0 {
			chunks := 4
			if vec == 4 {
				chunks = 2
			}
			if threads*chunks*vec < c.dim || threads > 512 || threads%32 != 0 {
				t.Errorf("normLayout(%d, %d): %d threads of %d chunks cannot hold the row", c.dim, c.v, threads, chunks)
			}
		}
	}
	be.sms = 132
	for _, rows := range []int{1, 31, 8192, 100000, 20_000_000} {
		gx, gy, tile := be.convGrid(rows, 1792, 4)
		if gx != 7 || gy > 65535 || gy*tile < rows || (gy-1)*tile >= rows || tile < 1 {
			t.Errorf("convGrid(%d rows, 1792 channels, 4) = %d, %d, tile %d", rows, gx, gy, tile)
		}
	}
}

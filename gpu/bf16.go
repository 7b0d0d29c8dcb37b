package gpu

import "math"

// BF16Bits rounds f to the nearest bfloat16 (ties to even), as PyTorch and
// CUDA's __float2bfloat16_rn do, and returns its 16 bits. NaN stays NaN.
func BF16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// FromBF16Bits widens a bfloat16 to float32 (exact).
func FromBF16Bits(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// RoundBF16 is f rounded to the nearest bfloat16, as a float32.
func RoundBF16(f float32) float32 { return FromBF16Bits(BF16Bits(f)) }

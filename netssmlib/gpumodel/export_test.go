package gpumodel

// UseUnfusedDecode makes dec step with the six unfused ops per layer even
// when the backend has the fused decode ops, so tests cover both paths.
func UseUnfusedDecode(dec *Decoder) { dec.fused = nil }

package gpumodel

// DecoderState returns every layer's conv window and SSM state, in order.
func DecoderState(dec *Decoder) ([]float32, error) {
	g, d, B := dec.g, dec.g.d, dec.batch
	var out []float32
	for l := range dec.conv {
		c, s := make([]float32, B*d.CD*d.K), make([]float32, B*d.DI*d.N)
		if err := g.be.Read(c, dec.conv[l], 0); err != nil {
			return nil, err
		}
		if err := g.be.Read(s, dec.ssm[l], 0); err != nil {
			return nil, err
		}
		out = append(append(out, c...), s...)
	}
	return out, nil
}

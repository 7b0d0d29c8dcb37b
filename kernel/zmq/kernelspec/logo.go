package kernelspec

import (
	"bufio"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

// Logo draws the kernel's logo at size x size pixels: a Go-blue rounded
// square with a white packet trace (bars of varying heights over a
// baseline, a nod to packets as tokens). It is drawn, not stored, so the
// PNGs never go stale and no binary lives in the repository.
func Logo(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	s := float64(size)
	blue := color.NRGBA{0x00, 0xad, 0xd8, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	r := s * 0.18 // corner radius
	// Bars: heights as fractions of the plot area, like packet lengths.
	heights := []float64{0.35, 0.8, 0.55, 1.0, 0.45, 0.7}
	x0, x1 := s*0.16, s*0.84
	base, top := s*0.78, s*0.22
	bw := (x1 - x0) / float64(len(heights))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			// Coverage of the pixel by the rounded square, 4x4 supersampled.
			var in, bar int
			for sy := 0; sy < 4; sy++ {
				for sx := 0; sx < 4; sx++ {
					px := float64(x) + (float64(sx)+0.5)/4
					py := float64(y) + (float64(sy)+0.5)/4
					if !inRoundRect(px, py, s, r) {
						continue
					}
					in++
					if px >= x0 && px < x1 {
						i := int((px - x0) / bw)
						gap := bw * 0.2
						left := x0 + float64(i)*bw
						h := heights[i] * (base - top)
						if px >= left+gap/2 && px < left+bw-gap/2 && py <= base && py >= base-h {
							bar++
						}
					}
					// Baseline under the bars.
					if px >= x0 && px < x1 && py > base+s*0.03 && py <= base+s*0.03+math.Max(1, s*0.05) {
						bar++
					}
				}
			}
			if in == 0 {
				continue
			}
			c := blend(blue, white, float64(bar)/float64(in))
			c.A = uint8(255 * in / 16)
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func inRoundRect(x, y, s, r float64) bool {
	if x < 0 || y < 0 || x > s || y > s {
		return false
	}
	cx := math.Min(math.Max(x, r), s-r)
	cy := math.Min(math.Max(y, r), s-r)
	dx, dy := x-cx, y-cy
	return dx*dx+dy*dy <= r*r
}

func blend(a, b color.NRGBA, t float64) color.NRGBA {
	mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p)*(1-t) + float64(q)*t)) }
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

func writeLogo(path string, size int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := png.Encode(w, Logo(size)); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Package brand is the product's look shared by every page the server
// serves: the icon (as SVG for browsers that take one, and as the
// /favicon.ico they ask for on their own) and its colour.
package brand

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
	"sync"
)

// FaviconSVG is the icon: a chat bubble with three dots on the brand colour.
//
//go:embed favicon.svg
var FaviconSVG []byte

// Colour is the brand colour of the icon, the dashboard and the reference.
var Colour = color.NRGBA{R: 0x0b, G: 0x6e, B: 0x5f, A: 0xff}

var (
	icoOnce sync.Once
	ico     []byte
)

// FaviconICO is the icon as a 32×32 .ico (a PNG inside), drawn from the
// same shapes as favicon.svg, for browsers and tools that only ask for
// /favicon.ico.
func FaviconICO() []byte {
	icoOnce.Do(func() { ico = encodeICO(draw(32)) })
	return ico
}

// draw renders the icon's shapes at size×size, 4×4 samples a pixel.
func draw(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	scale := float64(size) / 32
	const samples = 4
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var r, g, b, a float64
			for sy := 0; sy < samples; sy++ {
				for sx := 0; sx < samples; sx++ {
					px := (float64(x) + (float64(sx)+0.5)/samples) / scale
					py := (float64(y) + (float64(sy)+0.5)/samples) / scale
					c, ok := shade(px, py)
					if !ok {
						continue
					}
					r, g, b, a = r+float64(c.R), g+float64(c.G), b+float64(c.B), a+1
				}
			}
			if a == 0 {
				continue
			}
			n := float64(samples * samples)
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(r / a), G: uint8(g / a), B: uint8(b / a), A: uint8(255 * a / n)})
		}
	}
	return img
}

// shade is the colour at a point of the 32×32 icon, and whether the icon
// covers it; the shapes are favicon.svg's, topmost first.
func shade(x, y float64) (color.NRGBA, bool) {
	white := color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	for _, cx := range []float64{11.5, 16, 20.5} {
		if math.Hypot(x-cx, y-15) <= 1.8 {
			return Colour, true
		}
	}
	if math.Hypot(x-16, y-15) <= 9.5 || inTriangle(x, y, 8.5, 20.5, 6.5, 27, 13.5, 23.5) {
		return white, true
	}
	if inRoundedSquare(x, y, 32, 7) {
		return Colour, true
	}
	return color.NRGBA{}, false
}

func inRoundedSquare(x, y, size, r float64) bool {
	if x < 0 || y < 0 || x > size || y > size {
		return false
	}
	cx := math.Max(r, math.Min(size-r, x))
	cy := math.Max(r, math.Min(size-r, y))
	return math.Hypot(x-cx, y-cy) <= r
}

func inTriangle(px, py, ax, ay, bx, by, cx, cy float64) bool {
	d1 := (px-bx)*(ay-by) - (ax-bx)*(py-by)
	d2 := (px-cx)*(by-cy) - (bx-cx)*(py-cy)
	d3 := (px-ax)*(cy-ay) - (cx-ax)*(py-ay)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

// encodeICO wraps a PNG in the .ico container: a header and one directory
// entry (the format browsers have read since Windows Vista's icons).
func encodeICO(img *image.NRGBA) []byte {
	var p bytes.Buffer
	_ = png.Encode(&p, img)
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	size := img.Bounds().Dx()
	w(uint16(0))       // reserved
	w(uint16(1))       // type: icon
	w(uint16(1))       // one image
	w(uint8(size))     // width
	w(uint8(size))     // height
	w(uint8(0))        // no palette
	w(uint8(0))        // reserved
	w(uint16(1))       // colour planes
	w(uint16(32))      // bits per pixel
	w(uint32(p.Len())) // size of the PNG
	w(uint32(6 + 16))  // where it starts
	b.Write(p.Bytes())
	return b.Bytes()
}

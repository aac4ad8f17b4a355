package brand

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"testing"
)

func TestFaviconICO(t *testing.T) {
	ico := FaviconICO()
	if len(ico) < 22 || binary.LittleEndian.Uint16(ico[2:]) != 1 || binary.LittleEndian.Uint16(ico[4:]) != 1 {
		t.Fatalf("not an icon with one image: % x", ico[:min(len(ico), 22)])
	}
	size, offset := binary.LittleEndian.Uint32(ico[14:]), binary.LittleEndian.Uint32(ico[18:])
	if int(offset+size) != len(ico) {
		t.Fatalf("the directory says %d bytes at %d; the file has %d", size, offset, len(ico))
	}
	img, err := png.Decode(bytes.NewReader(ico[offset:]))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Fatalf("%v, want 32×32", b)
	}
	// The brand colour in a corner's inside, white in the bubble, a dot in
	// its middle, nothing outside the rounded corner.
	for _, tc := range []struct {
		x, y    int
		r, g, b uint8
		a       uint8
	}{
		{4, 4, Colour.R, Colour.G, Colour.B, 255},
		{16, 10, 255, 255, 255, 255},
		{16, 15, Colour.R, Colour.G, Colour.B, 255},
		{0, 0, 0, 0, 0, 0},
	} {
		r, g, b, a := img.At(tc.x, tc.y).RGBA()
		if a>>8 != uint32(tc.a) || (tc.a != 0 && (r>>8 != uint32(tc.r) || g>>8 != uint32(tc.g) || b>>8 != uint32(tc.b))) {
			t.Errorf("pixel (%d,%d) = %d,%d,%d,%d", tc.x, tc.y, r>>8, g>>8, b>>8, a>>8)
		}
	}
}

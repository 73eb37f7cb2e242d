package render

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/digest-newsletter/digest/internal/config"
)

// Backgrounds the default templates put accent-coloured text on. The light
// footer (#f3f4f6) is darker than white and the dark card (#161b22) lighter
// than the dark page, so they are the harder cases to pass.
const (
	lightBg = "#f3f4f6"
	darkBg  = "#161b22"
	// minContrast is WCAG 2 AA for normal text.
	minContrast = 4.5
)

type rgb struct{ r, g, b float64 } // 0..255

func parseHex(s string) (rgb, error) {
	h := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return rgb{}, fmt.Errorf("not a hex colour like #1a5fb4: %q", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return rgb{}, fmt.Errorf("not a hex colour like #1a5fb4: %q", s)
	}
	return rgb{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}, nil
}

func (c rgb) hex() string {
	return fmt.Sprintf("#%02x%02x%02x", int(math.Round(c.r)), int(math.Round(c.g)), int(math.Round(c.b)))
}

func (c rgb) mix(o rgb, t float64) rgb {
	// Rounded so the contrast checked is the contrast of the hex written.
	m := func(a, b float64) float64 { return math.Round(a + (b-a)*t) }
	return rgb{m(c.r, o.r), m(c.g, o.g), m(c.b, o.b)}
}

// luminance is WCAG 2 relative luminance.
func (c rgb) luminance() float64 {
	ch := func(v float64) float64 {
		v /= 255
		if v <= 0.03928 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.r) + 0.7152*ch(c.g) + 0.0722*ch(c.b)
}

func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// Accents is the theme's accent colour ("" for the default) as the email
// uses it, for the light and the dark scheme: for other pages (the
// archive's list) that should look like the email.
func Accents(accent string) (light, dark string, err error) {
	if accent == "" {
		accent = config.DefaultAccentColor
	}
	return accentPair(accent)
}

// accentPair returns the accent as given, darkened just enough for links on
// the light backgrounds (and white text on it), and a lightened variant for
// the dark scheme, each meeting AA. A brand colour that already passes is
// kept exactly.
func accentPair(accent string) (light, dark string, err error) {
	c, err := parseHex(accent)
	if err != nil {
		return "", "", err
	}
	lbg, _ := parseHex(lightBg)
	dbg, _ := parseHex(darkBg)
	black, white := rgb{}, rgb{255, 255, 255}
	l := c
	for t := 0.05; contrast(l, lbg) < minContrast && t <= 1; t += 0.05 {
		l = c.mix(black, t)
	}
	d := c
	for t := 0.05; contrast(d, dbg) < minContrast && t <= 1; t += 0.05 {
		d = c.mix(white, t)
	}
	return l.hex(), d.hex(), nil
}

package corpus

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
)

// HandbookN is how many notebooks Handbook makes.
const HandbookN = 136

// handbookKnots is the quantile function of a real data-science
// handbook's notebook sizes (136 notebooks, 34.4 MB: median 54 KB, 90th
// percentile 660 KB, 8 over 1 MiB, the largest 2.7 MB), log-linear between
// knots: (fraction of notebooks, bytes). The step at 1 MiB keeps the eight
// largest clear of it, whatever a notebook's last cell adds to its size.
var handbookKnots = [][2]float64{
	{0, 2.5e3}, {0.25, 18e3}, {0.5, 54e3}, {0.75, 270e3}, {0.9, 660e3},
	{float64(HandbookN-8) / HandbookN, 1<<20 - 40<<10},
	{float64(HandbookN-8) / HandbookN, 1<<20 + 40<<10}, {1, 2.7e6},
}

// HandbookMax is the size of Handbook's largest notebook.
const HandbookMax = 2_700_000

// Handbook returns the Options of a corpus shaped like a real
// data-science handbook: 136 notebooks of about 34 MB in all (median
// 54 KB, 90th percentile 660 KB, 8 over 1 MiB, the largest 2.7 MB), named
// by chapter and section ("03.07-Sparse-Query-Basics"), their figures
// at matplotlib's size (LargeFigures). One size per stratum of the
// distribution, the largest exactly HandbookMax; the same for a seed.
func Handbook(seed uint64) Options {
	r := rand.New(rand.NewPCG(seed, math.MaxUint64-2))
	sizes := make([]int, HandbookN)
	for i := range sizes {
		p := (float64(i) + r.Float64()) / HandbookN
		if i == HandbookN-1 {
			p = 1
		}
		sizes[i] = int(quantile(handbookKnots, p))
	}
	// Chapter order is not size order.
	r.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	names := make([]string, HandbookN)
	chapter, section := 1, 0
	for i := range names {
		section++
		if section > 8+r.IntN(12) {
			chapter, section = chapter+1, 1
		}
		names[i] = fmt.Sprintf("%02d.%02d-%s", chapter, section, handbookTitle(r))
	}
	return Options{Seed: seed, Sizes: sizes, LargeFigures: true, Name: func(i int) string { return names[i] }}
}

func quantile(knots [][2]float64, p float64) float64 {
	for k := 1; k < len(knots); k++ {
		a, b := knots[k-1], knots[k]
		if p <= b[0] && b[0] > a[0] {
			t := (p - a[0]) / (b[0] - a[0])
			return math.Exp(math.Log(a[1]) + t*(math.Log(b[1])-math.Log(a[1])))
		}
	}
	return knots[len(knots)-1][1]
}

var handbookWords = []string{"Introducing", "Understanding", "Working-With", "Visualizing", "Customizing",
	"Aggregations", "Indexing", "Sparse", "Dense", "Arrays", "Data-Types", "Queries", "Histograms",
	"Legends", "Colorbars", "Subplots", "Text-and-Annotation", "Three-Dimensional-Plotting",
	"Geographic-Data", "Linear-Regression", "Support-Vector-Machines", "Random-Forests",
	"Principal-Component-Analysis", "Manifold-Learning", "K-Means", "Gaussian-Mixtures",
	"Kernel-Density-Estimation", "Time-Series", "Pivot-Tables", "Vectorized-String-Ops",
	"Hierarchical-Indexing", "Missing-Values", "Combining-Datasets", "Schemas", "Fragments"}

func handbookTitle(r *rand.Rand) string {
	n := 1 + r.IntN(3)
	w := make([]string, n)
	for i := range w {
		w[i] = pick(r, handbookWords)
	}
	return strings.Join(w, "-")
}

// figure is a display_data output of a plot drawn at matplotlib's usual
// size, chosen to fit in about room more bytes of the notebook: a line
// chart (a few KB), a scatter plot (tens of KB) or a heat map (up to about
// 100 KB), or a thumbnail when little room is left.
func figure(r *rand.Rand, room int) map[string]any {
	var img *image.NRGBA
	switch k := r.IntN(10); {
	case room < 16<<10:
		return displayData(r)
	case k < 3 && room > 200<<10:
		img = heatmap(r)
	case k < 7 && room > 60<<10:
		img = scatter(r)
	default:
		img = lineChart(r)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // a bytes.Buffer does not fail
	}
	return map[string]any{
		"data": map[string]any{
			"image/png": base64.StdEncoding.EncodeToString(b.Bytes()) + "\n",
			"text/plain": []string{fmt.Sprintf("<Figure size %dx%d with 1 Axes>",
				img.Rect.Dx()*100/72, img.Rect.Dy()*100/72)},
		},
		"metadata":    map[string]any{"needs_background": "light"},
		"output_type": "display_data",
	}
}

// canvas is a white figure with axes and a light grid.
func canvas(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	grid := color.NRGBA{0xe8, 0xe8, 0xe8, 0xff}
	for x := 40; x < w-10; x += 48 {
		for y := 10; y < h-30; y++ {
			put(img, x, y, grid)
		}
	}
	for y := h - 30; y > 10; y -= 40 {
		for x := 40; x < w-10; x++ {
			put(img, x, y, grid)
		}
	}
	axis := color.NRGBA{0x26, 0x26, 0x26, 0xff}
	for x := 40; x < w-10; x++ {
		put(img, x, h-30, axis)
	}
	for y := 10; y <= h-30; y++ {
		put(img, 40, y, axis)
	}
	return img
}

// put sets the pixel at (x, y), inside img.
func put(img *image.NRGBA, x, y int, c color.NRGBA) {
	i := img.PixOffset(x, y)
	img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
}

// blend paints c over the pixel at (x, y) with opacity a.
func blend(img *image.NRGBA, x, y int, c color.NRGBA, a float64) {
	if !(image.Point{x, y}.In(img.Rect)) {
		return
	}
	i := img.PixOffset(x, y)
	for k, v := range [3]uint8{c.R, c.G, c.B} {
		img.Pix[i+k] = uint8(float64(img.Pix[i+k])*(1-a) + float64(v)*a)
	}
}

var tab10 = []color.NRGBA{{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}}

func lineChart(r *rand.Rand) *image.NRGBA {
	w, h := 360+r.IntN(120), 240+r.IntN(80)
	img := canvas(w, h)
	for l := range 1 + r.IntN(4) {
		c := tab10[l%len(tab10)]
		freq, phase, amp, noise := 1+r.Float64()*5, r.Float64()*math.Pi, float64(h-60)/2*(0.3+0.6*r.Float64()), r.Float64()*4
		for x := 41; x < w-10; x++ {
			y := float64(h-30)/2 + 5 + amp*math.Sin(phase+freq*2*math.Pi*float64(x)/float64(w)) + noise*r.NormFloat64()
			// Anti-aliased: the line's weight shared between two rows.
			fy := math.Floor(y)
			blend(img, x, int(fy), c, 1-(y-fy))
			blend(img, x, int(fy)+1, c, 1)
			blend(img, x, int(fy)+2, c, y-fy)
		}
	}
	return img
}

func scatter(r *rand.Rand) *image.NRGBA {
	w, h := 400+r.IntN(100), 260+r.IntN(80)
	img := canvas(w, h)
	n := 200 + r.IntN(800)
	for range n {
		c := tab10[r.IntN(len(tab10))]
		cx := 45 + r.Float64()*float64(w-60)
		cy := 15 + math.Abs(r.NormFloat64())*float64(h-50)/3
		rad := 2 + r.Float64()*4
		for dy := -int(rad) - 1; dy <= int(rad)+1; dy++ {
			for dx := -int(rad) - 1; dx <= int(rad)+1; dx++ {
				d := math.Hypot(float64(dx), float64(dy))
				if d <= rad+0.5 {
					blend(img, int(cx)+dx, int(cy)+dy, c, 0.6*math.Min(1, rad+0.5-d))
				}
			}
		}
	}
	return img
}

func heatmap(r *rand.Rand) *image.NRGBA {
	w, h := 260+r.IntN(120), 220+r.IntN(80)
	img := canvas(w, h)
	type wave struct{ fx, fy, ph, a float64 }
	var ws []wave
	for range 3 + r.IntN(4) {
		ws = append(ws, wave{r.Float64() * 0.08, r.Float64() * 0.08, r.Float64() * 6, 0.5 + r.Float64()})
	}
	for y := 12; y < h-32; y++ {
		for x := 42; x < w-12; x++ {
			v := 0.0
			for _, s := range ws {
				v += s.a * math.Sin(s.fx*float64(x)+s.fy*float64(y)+s.ph)
			}
			v = 0.5 + v/6 + r.NormFloat64()*0.03
			v = math.Max(0, math.Min(1, v))
			// A viridis-like ramp: dark blue, teal, yellow.
			put(img, x, y, color.NRGBA{uint8(68 + 185*v*v), uint8(1 + 230*v), uint8(84 + 100*math.Sin(math.Pi*v)), 0xff})
		}
	}
	return img
}

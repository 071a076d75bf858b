package console

import (
	"strconv"
	"strings"
)

// The geometry of the console's bar charts, in SVG user units. Charts
// scale with their container (console.css): the numbers set proportions.
const (
	chartLabelWidth = 200 // room for the labels, right-aligned before the bars
	chartBarSpace   = 300 // the longest bar
	chartValueSpace = 60  // room for the figure after a bar
	chartRow        = 28  // one bar's row
	chartThickness  = 18  // one bar's thickness
	chartPad        = 8   // above the first and below the last row
)

// barChart is a horizontal bar chart drawn on the server as inline SVG,
// with no script and no style attribute: its colours come from CSS classes
// of console.css and SVG presentation attributes. It is one image to
// assistive technology (role="img"), named by its title and described by a
// sentence holding every figure; the page shows the figures beside it in a
// table as well.
type barChart struct {
	// ID is unique in the page; the title and description ids derive from it.
	ID    string
	Title string
	// Desc is the text alternative: every label with its figure.
	Desc          string
	Width, Height int
	Bars          []chartBar
}

// chartBar is one bar, placed.
type chartBar struct {
	Label string
	Value int
	// Class is the bar's CSS class besides "chart-bar", e.g. a status's.
	Class string
	// Y is the top of the bar's row; BarY, the top of the bar; TextY,
	// the baseline of its label and figure.
	Y, BarY, TextY int
	// BarWidth is the bar's length; ValueX is where its figure starts.
	BarWidth, ValueX int
}

// chartItem is a labelled figure to draw.
type chartItem struct {
	Label string
	Value int
	Class string
}

// newBarChart places items as bars scaled to the largest value. desc
// introduces the figures in the text alternative.
func newBarChart(id, title, desc string, items []chartItem) barChart {
	top := 0
	for _, it := range items {
		top = max(top, it.Value)
	}
	c := barChart{
		ID: id, Title: title,
		Width:  chartLabelWidth + chartBarSpace + chartValueSpace,
		Height: 2*chartPad + len(items)*chartRow,
	}
	var figures []string
	for i, it := range items {
		w := 0
		if top > 0 {
			w = it.Value * chartBarSpace / top
		}
		if it.Value > 0 {
			// A bar too short to see would read as none.
			w = max(w, 2)
		}
		y := chartPad + i*chartRow
		c.Bars = append(c.Bars, chartBar{
			Label: it.Label, Value: it.Value, Class: it.Class,
			Y: y, BarY: y + (chartRow-chartThickness)/2, TextY: y + chartRow/2 + 5,
			BarWidth: w, ValueX: chartLabelWidth + w + 6,
		})
		figures = append(figures, it.Label+": "+strconv.Itoa(it.Value))
	}
	c.Desc = desc + " " + strings.Join(figures, "; ") + "."
	return c
}

// LabelX is where the labels end (they are right-aligned).
func (barChart) LabelX() int { return chartLabelWidth - 8 }

// BarX is where the bars start.
func (barChart) BarX() int { return chartLabelWidth }

// Thickness is the bars' thickness.
func (barChart) Thickness() int { return chartThickness }

// ViewBox is the chart's SVG viewBox.
func (c barChart) ViewBox() string {
	return "0 0 " + strconv.Itoa(c.Width) + " " + strconv.Itoa(c.Height)
}

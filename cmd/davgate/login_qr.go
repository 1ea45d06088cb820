package main

import (
	"io"
	"os"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// writeQR draws a QR code of text with Unicode half blocks, two modules
// per character cell, quiet zone included. With ansi it sets black on
// white itself, so that it scans on a dark terminal too; without, the
// blocks are the dark modules (for a light background, or a file).
func writeQR(w io.Writer, text string, ansi bool) error {
	q, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		return err
	}
	bm := q.Bitmap()
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		if ansi {
			b.WriteString("\x1b[30;47m")
		}
		for x := range bm[y] {
			top, bottom := bm[y][x], y+1 < len(bm) && bm[y+1][x]
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		if ansi {
			b.WriteString("\x1b[0m")
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// useANSI reports whether w is a terminal that may be sent colours
// (NO_COLOR unset, TERM not "dumb").
func useANSI(w io.Writer, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	if !ok || getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

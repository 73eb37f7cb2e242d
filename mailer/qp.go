package mailer

// qpLineMax is the most characters on an encoded line before the "=" of a
// soft break: RFC 2045 6.7 allows 76 in all.
const qpLineMax = 75

const upperhex = "0123456789ABCDEF"

// appendQP appends src to dst encoded as quoted-printable (RFC 2045 6.7),
// starting a new line. Every line break in src (LF, CRLF or a lone CR)
// becomes CRLF; lines longer than 76 characters get soft breaks; a space
// or tab before a line break or at the very end is encoded. A line never
// starts with ".", "-" or "From " (these are encoded as =2E, =2D, =46), so:
// SMTP needs no dot-stuffing (RFC 5321 4.5.2), no line of a body can be
// taken for a MIME boundary whatever a recipient's value holds, and an
// mbox ">From " rewrite cannot break a DKIM signature. Decoding gives src
// back, line breaks as CRLF.
//
// It reports whether the output ends at the start of a line (after a
// line break, or nothing written), where the next encoded piece may
// begin; otherwise the caller ends the line with a soft break ("=\r\n")
// first.
func appendQP[T ~string | ~[]byte](dst []byte, src T) ([]byte, bool) {
	col := 0
	lastWS := false // the line's last character is a literal space or tab
	for i := 0; i < len(src); i++ {
		b := src[i]
		if b == '\r' || b == '\n' {
			if b == '\r' && i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			if lastWS {
				dst, col = qpEncodeLast(dst, col)
			}
			dst = append(dst, '\r', '\n')
			col, lastWS = 0, false
			continue
		}
		enc := qpMustEncode(b, col, src, i)
		n := 1
		if enc {
			n = 3
		}
		if col+n > qpLineMax {
			dst = append(dst, '=', '\r', '\n')
			col = 0
			if !enc && qpMustEncode(b, 0, src, i) {
				enc, n = true, 3
			}
		}
		if enc {
			dst = append(dst, '=', upperhex[b>>4], upperhex[b&0x0f])
		} else {
			dst = append(dst, b)
		}
		col += n
		lastWS = !enc && (b == ' ' || b == '\t')
	}
	if lastWS {
		dst, col = qpEncodeLast(dst, col)
	}
	return dst, col == 0
}

// qpMustEncode reports whether src[i] (b), written at column col, must be
// encoded.
func qpMustEncode[T ~string | ~[]byte](b byte, col int, src T, i int) bool {
	switch {
	case b == '=':
		return true
	case b == ' ' || b == '\t':
		return false
	case b < '!' || b > '~':
		return true
	case col != 0:
		return false
	case b == '.' || b == '-':
		return true
	case b == 'F':
		return len(src)-i >= 5 && string(src[i:i+5]) == "From "
	}
	return false
}

// qpEncodeLast rewrites the literal space or tab that ends the line as
// =20 or =09, moving it past a soft break if the line has no room.
func qpEncodeLast(dst []byte, col int) ([]byte, int) {
	b := dst[len(dst)-1]
	dst = dst[:len(dst)-1]
	col--
	if col+3 > qpLineMax {
		dst = append(dst, '=', '\r', '\n')
		col = 0
	}
	return append(dst, '=', upperhex[b>>4], upperhex[b&0x0f]), col + 3
}

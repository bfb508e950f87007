package jsonscan

// PairPrefixFixed reads a price level whose first two elements are plain
// strings, such as OKX's ["px","sz","0","n"], converting both strings to
// fixed point (10^-pxDec and 10^-qtyDec units) in the same pass and
// returning their raw bytes as well (aliasing the input), for venues whose
// checksum is computed over the exact wire strings. Elements after the
// second are skipped with their syntax checked, as PairPrefix does.
//
// It accepts exactly what PairPrefix followed by num.ParseUnsigned on both
// strings accepts, with the same values, the same raw slices and the same
// position afterwards. On failure a shape error is a scanner error and a
// bad number is the num package's error (ErrSyntax, ErrPrecision,
// ErrRange); which one is recorded when a level is both malformed and
// badly numbered is not specified (the number is read first), so callers
// that must report shape before numbers re-read such a level.
func (s *Scanner) PairPrefixFixed(pxDec, qtyDec uint8) (px, qty int64, pxRaw, qtyRaw []byte, ok bool) {
	if !s.expect('[') {
		return 0, 0, nil, nil, false
	}
	if px, pxRaw, ok = s.fixedRaw(pxDec); !ok || !s.expect(',') {
		return 0, 0, nil, nil, false
	}
	if qty, qtyRaw, ok = s.fixedRaw(qtyDec); !ok {
		return 0, 0, nil, nil, false
	}
	for {
		switch s.Peek() {
		case ']':
			s.pos++
			return px, qty, pxRaw, qtyRaw, true
		case ',':
			s.pos++
			// The further elements of a level are short strings ("0",
			// order counts): skip those directly; Skip decides the rest.
			if s.Peek() == '"' {
				s.skipString()
			} else {
				s.Skip()
			}
			if s.err != nil {
				return 0, 0, nil, nil, false
			}
		default:
			s.Fail(ErrSyntax)
			return 0, 0, nil, nil, false
		}
	}
}

// fixedRaw is fixed (a JSON string holding an unsigned decimal, converted
// while scanned) that also returns the string's bytes without the quotes.
// fixed leaves the scanner just past the closing quote, and a string it
// accepts has no escapes, so the raw bytes are exactly those between the
// opening quote and s.pos-1.
func (s *Scanner) fixedRaw(dec uint8) (int64, []byte, bool) {
	if s.Peek() != '"' {
		s.Fail(ErrType)
		return 0, nil, false
	}
	start := s.pos + 1
	v, ok := s.fixed(dec)
	if !ok {
		return 0, nil, false
	}
	return v, s.b[start : s.pos-1], true
}

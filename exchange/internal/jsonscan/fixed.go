package jsonscan

import "arb/exchange/num"

// PairFixed reads a price level ["px","qty"] of exactly two plain strings
// and converts both straight to fixed point (10^-pxDec and 10^-qtyDec
// units) in the same pass over the bytes. A malformed level records a
// scanner error; a bad number records the num package's error (ErrSyntax,
// ErrPrecision, ErrRange), so callers can tell "not JSON" from "not a
// number" with errors.Is.
func (s *Scanner) PairFixed(pxDec, qtyDec uint8) (px, qty int64, ok bool) {
	if !s.expect('[') {
		return 0, 0, false
	}
	if px, ok = s.fixed(pxDec); !ok || !s.expect(',') {
		return 0, 0, false
	}
	if qty, ok = s.fixed(qtyDec); !ok || !s.expect(']') {
		return 0, 0, false
	}
	return px, qty, true
}

// fixed reads a JSON string holding an unsigned decimal and converts it.
// The common short case is converted while scanning; anything else falls
// back to plainString + num.ParseUnsigned, which decide exactly.
func (s *Scanner) fixed(dec uint8) (int64, bool) {
	if s.Peek() != '"' {
		s.Fail(ErrType)
		return 0, false
	}
	b := s.b
	i := s.pos + 1
	start := i
	var u uint64
	for i < len(b) {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		u = u*10 + uint64(c)
		i++
	}
	nInt := i - start
	if nInt > 0 && nInt+int(dec) <= 18 && i < len(b) {
		frac := uint8(0)
		if b[i] == '.' {
			j := i + 1
			for j < len(b) {
				c := b[j] - '0'
				if c > 9 {
					break
				}
				if frac < dec {
					u = u*10 + uint64(c)
					frac++
				} else if c != 0 {
					break // too precise: let the exact path report it
				}
				j++
			}
			if j > i+1 && j < len(b) && b[j] == '"' {
				s.pos = j + 1
				return int64(u) * pow10(dec-frac), true
			}
		} else if b[i] == '"' {
			s.pos = i + 1
			return int64(u) * pow10(dec), true
		}
	}
	raw, ok := s.plainString()
	if !ok {
		return 0, false
	}
	v, err := num.ParseUnsigned(raw, dec)
	if err != nil {
		s.Fail(err)
		return 0, false
	}
	return v, true
}

func pow10(d uint8) int64 { return num.Pow10(d) }

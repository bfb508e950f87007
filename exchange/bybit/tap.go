package bybit

import "arb/exchange/tap"

// SetTap attaches a recorder hook (see exchange/tap): every connection's
// open, frames, sent messages and close are reported to it. Call it before Run;
// nil (the default) is off and costs a nil check per frame.
func (f *Feed) SetTap(t *tap.Venue) { f.tap = t }

package execute

// State is where a trade is in its life. The names are the Trades
// contract's (design.md): open, hedging, unwinding, closed_flat,
// closed_residual. Persisted: only ever appended to.
type State uint8

// States of a trade.
const (
	// StateOpen: the entry legs are out (both at once, or the first of a
	// sequential pair) and not all resolved.
	StateOpen State = iota + 1
	// StateHedging: the entry legs filled unequally; the short leg is being
	// retried for the missing quantity on its own venue.
	StateHedging
	// StateUnwinding: retrying could not (or may no longer) make the legs
	// equal; the excess is being sold back (or bought back) on the venue
	// where it was filled.
	StateUnwinding
	// StateClosedFlat: every order is resolved and as much base was bought
	// as sold.
	StateClosedFlat
	// StateClosedResidual: the trade is over with a position left (the
	// residual, reported), or with an order the venues never resolved
	// before the deadline.
	StateClosedResidual
)

var stateNames = [...]string{"", "open", "hedging", "unwinding", "closed_flat", "closed_residual"}

// String returns the contract name of the state.
func (s State) String() string {
	if int(s) < len(stateNames) && s != 0 {
		return stateNames[s]
	}
	return "invalid"
}

// Closed reports whether the trade is over.
func (s State) Closed() bool { return s == StateClosedFlat || s == StateClosedResidual }

func stateOf(name string) (State, bool) {
	for i := 1; i < len(stateNames); i++ {
		if stateNames[i] == name {
			return State(i), true
		}
	}
	return 0, false
}

// Purpose is why an order was sent. Persisted: only ever appended to.
type Purpose uint8

// Purposes of an order (the Trades contract's legs[].purpose).
const (
	PurposeEntry  Purpose = iota + 1 // one of the plan's legs
	PurposeRetry                     // the missing quantity of a short leg, on its venue
	PurposeUnwind                    // the excess of a long leg, reversed on its venue
)

var purposeNames = [...]string{"", "entry", "retry", "unwind"}

// String returns the contract name of the purpose.
func (p Purpose) String() string {
	if int(p) < len(purposeNames) && p != 0 {
		return purposeNames[p]
	}
	return "invalid"
}

func (p Purpose) letter() byte {
	switch p {
	case PurposeRetry:
		return 'r'
	case PurposeUnwind:
		return 'u'
	}
	return 'e'
}

func purposeOf(c byte) (Purpose, bool) {
	switch c {
	case 'e':
		return PurposeEntry, true
	case 'r':
		return PurposeRetry, true
	case 'u':
		return PurposeUnwind, true
	}
	return 0, false
}

func purposeNamed(name string) (Purpose, bool) {
	for i := 1; i < len(purposeNames); i++ {
		if purposeNames[i] == name {
			return Purpose(i), true
		}
	}
	return 0, false
}

// Mode is how a pair's entry legs go out.
type Mode uint8

// Modes of a Policy.
const (
	// Concurrent sends both entry legs at once (the default).
	Concurrent Mode = iota + 1
	// Sequential sends one leg first (Policy.First) and the other only
	// once the first is resolved, sized to what it actually filled: for
	// venues where a leg in flight is costly or slow to cancel (on-chain).
	Sequential
)

var modeNames = [...]string{"", "concurrent", "sequential"}

// String returns the mode's config name.
func (m Mode) String() string {
	if int(m) < len(modeNames) && m != 0 {
		return modeNames[m]
	}
	return "invalid"
}

// ParseMode returns the Mode named s ("concurrent", "sequential").
func ParseMode(s string) (Mode, bool) {
	for i := 1; i < len(modeNames); i++ {
		if modeNames[i] == s {
			return Mode(i), true
		}
	}
	return 0, false
}

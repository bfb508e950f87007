package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"arb/exchange/num"
)

// symbol is one canonical instrument and its shared price process.
type symbol struct {
	cfg              SymbolConfig
	idx              int
	base, quote      string
	scale            num.Scale
	tick, step       int64
	minQty, minNotnl int64
	basePx           int64
	tickDec, stepDec uint8 // decimals as written in the config (Bybit prints these)
	mid              int64 // shared mid before venue offsets, on the tick grid
	rng              *rand.Rand
}

func newSymbol(i int, c SymbolConfig, seed uint64) *symbol {
	s := &symbol{cfg: c, idx: i, scale: c.Scale}
	s.base, s.quote, _ = splitCanonical(c.Symbol)
	s.tick = mustParse(c.Tick, c.Scale.Px)
	s.step = mustParse(c.Step, c.Scale.Qty)
	s.minQty = mustParse(c.MinQty, c.Scale.Qty)
	s.minNotnl = mustParse(c.MinNotional, c.Scale.Px)
	s.basePx = num.FloorTo(mustParse(c.BasePrice, c.Scale.Px), s.tick)
	if s.basePx < s.tick {
		s.basePx = s.tick
	}
	s.tickDec = writtenDecimals(c.Tick)
	s.stepDec = writtenDecimals(c.Step)
	s.mid = s.basePx
	s.rng = rand.New(rand.NewPCG(seed, hashKey("price", c.Symbol)))
	return s
}

// advance moves the shared mid one step: a Gaussian move of VolBps with a
// weak pull back to the base price, so long runs stay near it.
func (s *symbol) advance() {
	mid := float64(s.mid)
	d := s.rng.NormFloat64()*s.cfg.VolBps/1e4*mid - 0.001*(mid-float64(s.basePx))
	m := num.FloorTo(s.mid+int64(math.Round(d/float64(s.tick)))*s.tick, s.tick)
	if m < 1000*s.tick {
		m = 1000 * s.tick
	}
	s.mid = m
}

func mustParse(v string, dec uint8) int64 {
	x, err := num.ParseString(v, dec)
	if err != nil {
		panic("sim: config not validated: " + err.Error())
	}
	return x
}

// writtenDecimals counts the digits after '.' as written ("0.10" → 2).
func writtenDecimals(v string) uint8 {
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			return uint8(len(v) - i - 1)
		}
	}
	return 0
}

func hashKey(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// vbook is one venue's book for one symbol: the live book (changed by steps
// and fills), the last published state, its sequence fields and history, and
// the per-channel views that decide what each stream sends.
type vbook struct {
	v    *venue
	sym  *symbol
	rng  *rand.Rand
	live book // the venue's current book; fills change it at once
	pub  book // the last published state (what seq names)
	chg  delta

	// seq is the venue's own sequence field of pub, the key of hist and of
	// BookAt: Binance u / lastUpdateId, OKX seqId, Bybit seq (the cross
	// sequence; Bybit's per-topic update ids u live in the topic views).
	seq     uint64
	firstU  uint64 // Binance: U of the last state
	prevSeq uint64 // OKX: seqId before the last state
	hist    *history

	dislocBps  float64
	dislocLeft int
	quietLeft  int
	steps      uint64    // steps taken (drives stream intervals)
	staleUntil time.Time // FaultStale: no market data before this

	bn *binanceViews
	ok *okxViews
	by *bybitViews
}

func newVBook(v *venue, sym *symbol, seed uint64, histLen, histDepth int) *vbook {
	vb := &vbook{v: v, sym: sym, live: newBook(), pub: newBook(), hist: newHistory(histLen, histDepth)}
	vb.rng = rand.New(rand.NewPCG(seed, hashKey("book", v.cfg.Name, sym.cfg.Symbol)))
	switch v.cfg.Kind {
	case KindBinance:
		vb.seq = 1_000_000 + vb.rng.Uint64N(1_000_000_000)
	case KindOKX:
		vb.seq = 10_000_000 + vb.rng.Uint64N(10_000_000_000)
	case KindBybit: // the cross sequence: large, like the documented examples
		vb.seq = 10_000_000_000 + vb.rng.Uint64N(10_000_000_000)
	}
	vb.firstU, vb.prevSeq = vb.seq, vb.seq
	vb.initBook()
	vb.pub.copyFrom(&vb.live)
	vb.hist.push(vb.seq, &vb.pub)
	return vb
}

func (vb *vbook) levels() int { return vb.v.cfg.Levels }

func (vb *vbook) targetMid() int64 {
	m := float64(vb.sym.mid) * (1 + (vb.v.cfg.OffsetBps+vb.dislocBps)/1e4)
	t := vb.sym.tick
	mid := int64(math.Round(m/float64(t))) * t
	if mid < 1000*t {
		mid = 1000 * t
	}
	return mid
}

// gap is the typical distance between adjacent levels, in ticks.
func (vb *vbook) gap(mid int64) int64 {
	g := int64(math.Round(float64(mid) * vb.sym.cfg.GapBps / 1e4 / float64(vb.sym.tick)))
	return max(1, g)
}

// bounds returns the highest bid and lowest ask allowed around mid; every
// operation keeps bids ≤ bidMax < askMin ≤ asks, so the book never crosses.
func (vb *vbook) bounds(mid int64) (bidMax, askMin int64) {
	h := max(1, vb.gap(mid)/2) * vb.sym.tick
	return mid - h, mid + h
}

// newQty draws a level size: lognormal around LevelQuote of quote currency.
func (vb *vbook) newQty(mid int64) int64 {
	s := vb.sym
	px := float64(mid) / float64(num.Pow10(s.scale.Px))
	q := s.cfg.LevelQuote / px * math.Exp(0.8*vb.rng.NormFloat64()) * float64(num.Pow10(s.scale.Qty))
	if q > 1e15 {
		q = 1e15
	}
	v := num.FloorTo(int64(q), s.step)
	return max(v, s.step, num.CeilTo(s.minQty, s.step))
}

func (vb *vbook) initBook() {
	mid := vb.targetMid()
	g := vb.gap(mid)
	bidMax, askMin := vb.bounds(mid)
	t := vb.sym.tick
	px := bidMax
	for i := 0; i < vb.levels() && px > 0; i++ {
		vb.live.bids.l = append(vb.live.bids.l, lvl{px, vb.newQty(mid)})
		px -= g * (1 + vb.rng.Int64N(3)) * t
	}
	px = askMin
	for i := 0; i < vb.levels(); i++ {
		vb.live.asks.l = append(vb.live.asks.l, lvl{px, vb.newQty(mid)})
		px += g * (1 + vb.rng.Int64N(3)) * t
	}
}

// step evolves the live book one step and, if it differs from the last
// published state, publishes a new state: sequence fields advance, history
// records it, and vb.chg holds the full-book changes. It reports whether a
// new state was published.
func (vb *vbook) step(dc *DislocationConfig, qc *QuietConfig) bool {
	vb.steps++
	if vb.dislocLeft > 0 {
		vb.dislocLeft--
		if vb.dislocLeft == 0 {
			vb.dislocBps = 0
		}
	} else if dc.Prob > 0 && vb.rng.Float64() < dc.Prob {
		vb.dislocBps = dc.MinBps + vb.rng.Float64()*(dc.MaxBps-dc.MinBps)
		if vb.rng.IntN(2) == 0 {
			vb.dislocBps = -vb.dislocBps
		}
		vb.dislocLeft = dc.MinSteps + vb.rng.IntN(dc.MaxSteps-dc.MinSteps+1)
	}
	if vb.quietLeft > 0 {
		vb.quietLeft--
	} else if qc.Prob > 0 && vb.rng.Float64() < qc.Prob {
		vb.quietLeft = qc.MinSteps + vb.rng.IntN(qc.MaxSteps-qc.MinSteps+1)
	} else {
		vb.evolve()
	}
	return vb.publishState()
}

// publishState turns the live book into a new published state if it changed.
func (vb *vbook) publishState() bool {
	diffTop(&vb.chg, &vb.pub, &vb.live, 0)
	if vb.chg.empty() {
		return false
	}
	n := uint64(vb.chg.n())
	switch vb.v.cfg.Kind {
	case KindBinance: // update ids count level changes: u-U+1 = changes in the event
		vb.firstU = vb.seq + 1
		vb.seq += n
	case KindOKX:
		vb.prevSeq = vb.seq
		vb.seq += n
	case KindBybit: // the cross sequence: strictly increasing, not by one
		vb.seq += n
	}
	vb.pub.copyFrom(&vb.live)
	vb.hist.push(vb.seq, &vb.pub)
	return true
}

// evolve applies one step of level changes: recentre on the venue's mid
// (levels the mid moved through vanish, a new best level appears on the side
// that opened up), a few random size changes, deletes and inserts, then keep
// the level count in range.
func (vb *vbook) evolve() {
	mid := vb.targetMid()
	g := vb.gap(mid)
	t := vb.sym.tick
	bidMax, askMin := vb.bounds(mid)
	b, a := &vb.live.bids, &vb.live.asks
	n := 0
	for n < len(b.l) && b.l[n].px > bidMax {
		n++
	}
	b.l = append(b.l[:0], b.l[n:]...)
	n = 0
	for n < len(a.l) && a.l[n].px < askMin {
		n++
	}
	a.l = append(a.l[:0], a.l[n:]...)
	if len(b.l) == 0 || b.l[0].px < bidMax-g*t {
		b.set(bidMax-vb.rng.Int64N(g)*t, vb.newQty(mid))
	}
	if len(a.l) == 0 || a.l[0].px > askMin+g*t {
		a.set(askMin+vb.rng.Int64N(g)*t, vb.newQty(mid))
	}
	for k := 1 + vb.rng.IntN(3); k > 0; k-- {
		bid := vb.rng.IntN(2) == 0
		sd := vb.live.side(bid)
		if len(sd.l) == 0 {
			continue
		}
		r := vb.rng.Float64()
		switch {
		case r < 0.5: // size change, mostly near the top
			i := int(vb.rng.ExpFloat64() * 8)
			if i >= len(sd.l) {
				i = vb.rng.IntN(len(sd.l))
			}
			sd.l[i].qty = vb.newQty(mid)
		case r < 0.7: // a level goes away
			if len(sd.l) > vb.levels()/2 {
				i := vb.rng.IntN(len(sd.l))
				sd.l = append(sd.l[:i], sd.l[i+1:]...)
			}
		default: // a new level (or a new size) somewhere in the book
			spanTicks := absI(sd.l[len(sd.l)-1].px-sd.l[0].px)/t + g
			off := vb.rng.Int64N(spanTicks) * t
			px := askMin + off
			if bid {
				px = bidMax - off
			}
			if px > 0 {
				sd.set(px, vb.newQty(mid))
			}
		}
	}
	for _, sd := range []*side{b, a} {
		if len(sd.l) > vb.levels() {
			sd.l = sd.l[:vb.levels()]
		}
		for len(sd.l) < vb.levels()*7/8 {
			d := g * (1 + vb.rng.Int64N(3)) * t
			last := sd.l[len(sd.l)-1].px
			px := last + d
			if !sd.asc {
				px = last - d
			}
			if px <= 0 {
				break
			}
			sd.l = append(sd.l, lvl{px, vb.newQty(mid)})
		}
	}
}

func absI(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// Dislocate shifts one venue's book for a canonical symbol by bps (positive:
// up, negative: down) for the next steps market steps, replacing any random
// dislocation in progress and ending a quiet spell, so tests and demos can
// create a cross-venue opportunity of a known size. The book moves toward the
// shifted mid by its usual process, so the shift shows within a few steps.
func (s *Sim) Dislocate(venue, symbol string, bps float64, steps int) error {
	if steps <= 0 || math.IsNaN(bps) || math.IsInf(bps, 0) || math.Abs(bps) >= 5000 {
		return fmt.Errorf("sim: Dislocate(%s, %s): need steps > 0 and |bps| < 5000, got %v bps for %d steps", venue, symbol, bps, steps)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, vb, err := s.book(venue, symbol)
	if err != nil {
		return err
	}
	vb.dislocBps, vb.dislocLeft, vb.quietLeft = bps, steps, 0
	return nil
}

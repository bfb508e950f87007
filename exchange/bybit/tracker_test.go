package bybit

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// modelOrder is the obviously-right model of one tracked id.
type modelOrder struct {
	state   trackState
	status  exchange.OrderStatus
	filled  num.Qty
	fills   map[string]num.Qty
	since   int64
	event   int64
	polled  int64
	settled bool
}

func (m *modelOrder) fillQty() num.Qty {
	var q num.Qty
	for _, v := range m.fills {
		q += v
	}
	return q
}

func (m *modelOrder) settle() {
	if m.state == trackKnown && m.status.Final() && m.fillQty() >= m.filled {
		m.state = trackDone
	}
}

// TestTrackerAgainstModel drives the tracker and a map-based model with
// the same seeded random operations — begin, the request's outcome, order
// states and fills from several paths (duplicates included), lookups that
// find nothing, polls — and checks after every step that they agree on
// every refusal, every id's state and the set of orders due for a poll.
// The table is large enough that nothing is evicted (eviction is tested
// separately).
func TestTrackerAgainstModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	const rw = 5 * time.Second
	for run := 0; run < 20; run++ {
		tr := newTracker(512)
		model := map[string]*modelOrder{}
		now := int64(1_000_000_000_000)
		ids := make([]string, 40)
		for i := range ids {
			ids[i] = fmt.Sprintf("id%d", i)
		}
		for step := 0; step < 3000; step++ {
			now += r.Int64N(int64(500 * time.Millisecond))
			id := ids[r.IntN(len(ids))]
			xid := exchange.MustID(id)
			m := model[id]
			fail := func(format string, a ...any) {
				t.Fatalf("seed %d run %d step %d id %s: %s", seed, run, step, id, fmt.Sprintf(format, a...))
			}
			switch op := r.IntN(7); op {
			case 0: // begin
				ref, wait := tr.begin(xid, 1, now, rw)
				want := beginOK
				var wantWait time.Duration
				if m != nil {
					switch m.state {
					case trackKnown, trackDone:
						want = beginKnown
					case trackSending:
						want = beginInFlight
					case trackUnknown:
						if dead := m.since + int64(rw+resendMargin); now < dead {
							want, wantWait = beginTooSoon, time.Duration(dead-now)
						}
					}
				}
				if ref != want || wait != wantWait {
					fail("begin = %d %v, model %d %v", ref, wait, want, wantWait)
				}
				if ref == beginOK {
					if m == nil {
						m = &modelOrder{fills: map[string]num.Qty{}}
						model[id] = m
					}
					m.state, m.since, m.event, m.polled = trackSending, now, now, now
				}
			case 1: // the request's outcome
				known, unknown := r.IntN(2) == 0, r.IntN(2) == 0
				tr.sent(xid, known, unknown, now, now)
				if m != nil && m.state == trackSending {
					switch {
					case known:
						m.state, m.event = trackKnown, now
					case unknown:
						m.state, m.event = trackUnknown, now
					default:
						delete(model, id)
					}
				}
			case 2: // an order state (cumulative filled grows, status may go final)
				st := exchange.OrderState{ClientID: xid, FilledQty: num.Qty(r.IntN(5) * 10),
					Status: []exchange.OrderStatus{exchange.StatusNew, exchange.StatusPartiallyFilled, exchange.StatusFilled, exchange.StatusCanceled}[r.IntN(4)]}
				got := tr.onState(&st, now)
				if got != (m != nil) {
					fail("onState tracked=%v, model %v", got, m != nil)
				}
				if m != nil {
					if m.state == trackSending || m.state == trackUnknown {
						m.state = trackKnown
					}
					if st.FilledQty > m.filled {
						m.filled = st.FilledQty
					}
					if st.Status.Final() || !m.status.Final() {
						m.status = st.Status
					}
					m.event = now
					m.settle()
				}
			case 3: // a fill (trade ids repeat: several paths report it)
				f := exchange.Fill{ClientID: xid, TradeID: exchange.MustID(fmt.Sprintf("%s-t%d", id, r.IntN(4))), Qty: 10}
				got, dup := tr.onFill(&f, now)
				if got != (m != nil) {
					fail("onFill tracked=%v, model %v", got, m != nil)
				}
				if m != nil {
					if m.state == trackSending || m.state == trackUnknown {
						m.state = trackKnown
					}
					_, mdup := m.fills[f.TradeID.String()]
					if dup != mdup {
						fail("onFill dup=%v, model %v", dup, mdup)
					}
					if !mdup {
						m.fills[f.TradeID.String()] = f.Qty
						m.settle()
					}
					m.event = now
				}
			case 4: // a lookup found nothing
				got := tr.notFound(xid, now, rw)
				want := m != nil && m.state == trackUnknown && now >= m.since+int64(rw+resendMargin)
				if got != want {
					fail("notFound = %v, model %v", got, want)
				}
				if want {
					delete(model, id)
				}
			case 5: // poll
				up := r.IntN(2) == 0
				every, stale := 300*time.Millisecond, time.Second
				items := tr.due(nil, now, up, every, stale)
				var got, want []string
				for _, it := range items {
					got = append(got, it.id.String())
					if mm := model[it.id.String()]; mm == nil || it.fills != (mm.filled > mm.fillQty()) {
						fail("due item %+v, model %+v", it, mm)
					}
				}
				for mid, mm := range model {
					if (mm.state == trackKnown || mm.state == trackUnknown) && now-mm.polled >= int64(every) &&
						(!up || now-mm.event >= int64(stale)) {
						want = append(want, mid)
						mm.polled = now
					}
				}
				sort.Strings(got)
				sort.Strings(want)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					fail("due %v, model %v", got, want)
				}
			case 6: // known / needFills
				if tr.known(xid) != (m != nil && (m.state == trackKnown || m.state == trackDone)) {
					fail("known disagrees")
				}
				if tr.needFills(xid) != (m != nil && m.filled > m.fillQty()) {
					fail("needFills disagrees")
				}
			}
			live := 0
			for _, mm := range model {
				if mm.state != trackDone {
					live++
				}
			}
			if tr.liveCount() != live {
				fail("live %d, model %d", tr.liveCount(), live)
			}
		}
	}
}

// TestTrackerEviction: done entries are reused oldest first; live ones
// are not (until abandoned); the index survives many reuses
// (backward-shift deletion keeps every probe chain whole).
func TestTrackerEviction(t *testing.T) {
	tr := newTracker(16)
	now := int64(time.Hour)
	for i := 0; i < 10_000; i++ {
		id := exchange.MustID(fmt.Sprintf("o%d", i))
		if ref, _ := tr.begin(id, 1, now, time.Second); ref != beginOK {
			t.Fatalf("begin %d: %d", i, ref)
		}
		tr.sent(id, true, false, now, now)
		st := exchange.OrderState{ClientID: id, Status: exchange.StatusCanceled}
		tr.onState(&st, now)
		// The last 16 are remembered: resubmitting one of them is refused.
		for j := max(0, i-15); j <= i; j++ {
			if !tr.known(exchange.MustID(fmt.Sprintf("o%d", j))) {
				t.Fatalf("after %d: o%d forgotten", i, j)
			}
		}
		if i >= 16 && tr.known(exchange.MustID(fmt.Sprintf("o%d", i-16))) {
			t.Fatalf("after %d: o%d still known", i, i-16)
		}
	}
	// Live entries fill the table: the next begin is refused, until the
	// oldest is abandoned.
	tr = newTracker(16)
	for i := 0; i < 16; i++ {
		id := exchange.MustID(fmt.Sprintf("l%d", i))
		tr.begin(id, 1, now, time.Second)
		tr.sent(id, true, false, now, now)
	}
	if ref, _ := tr.begin(exchange.MustID("l16"), 1, now, time.Second); ref != beginFull {
		t.Fatalf("full table: %d", ref)
	}
	if ref, _ := tr.begin(exchange.MustID("l16"), 1, now+int64(abandonAfter)+1, time.Second); ref != beginOK || tr.liveCount() != 16 {
		t.Fatalf("abandoned entry not reused: %d live %d", ref, tr.liveCount())
	}
}

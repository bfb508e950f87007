package okx

import (
	"log/slog"
	"time"

	"arb/exchange"
)

// OKX request limits on one connection.
const (
	// opsPerHour: OKX allows 480 subscribe/unsubscribe/login requests per
	// hour per connection; we keep 30 in reserve.
	opsPerHour = 450
	// maxArgsBytes: OKX caps the args of one request at 64 KB; requests are
	// split below that with a margin.
	maxArgsBytes = 60 << 10
)

// opBudget is a sliding one-hour window of request times: a ring holding
// at most limit entries, so it is bounded by construction.
type opBudget struct {
	ts      []int64
	head, n int
}

func (b *opBudget) init(limit int) { b.ts = make([]int64, limit) }

// take reserves k requests at now if the last hour leaves room for them.
func (b *opBudget) take(now int64, k int) bool {
	for b.n > 0 && now-b.ts[b.head] >= int64(time.Hour) {
		b.head = (b.head + 1) % len(b.ts)
		b.n--
	}
	if b.n+k > len(b.ts) {
		return false
	}
	for j := 0; j < k; j++ {
		b.ts[(b.head+b.n)%len(b.ts)] = now
		b.n++
	}
	return true
}

// requests builds subscribe/unsubscribe frames in one reusable buffer.
type requests struct {
	buf   []byte
	ends  []int
	out   [][]byte
	limit int // max bytes of one request's args array
}

func (r *requests) reset() {
	r.buf, r.ends, r.out = r.buf[:0], r.ends[:0], r.out[:0]
}

// add appends op requests for syms on channel, splitting them so that no
// request's args exceed r.limit.
func (r *requests) add(op, channel string, syms []string) {
	for len(syms) > 0 {
		r.buf = append(r.buf, `{"op":"`...)
		r.buf = append(r.buf, op...)
		r.buf = append(r.buf, `","args":[`...)
		argsStart := len(r.buf) - 1
		n := 0
		for n < len(syms) {
			mark := len(r.buf)
			if n > 0 {
				r.buf = append(r.buf, ',')
			}
			r.buf = append(r.buf, `{"channel":"`...)
			r.buf = append(r.buf, channel...)
			r.buf = append(r.buf, `","instId":"`...)
			r.buf = append(r.buf, syms[n]...)
			r.buf = append(r.buf, `"}`...)
			if n > 0 && len(r.buf)+1-argsStart > r.limit {
				r.buf = r.buf[:mark]
				break
			}
			n++
		}
		r.buf = append(r.buf, "]}"...)
		r.ends = append(r.ends, len(r.buf))
		syms = syms[n:]
	}
}

// frames returns the requests built since reset; valid until the next build.
func (r *requests) frames() [][]byte {
	start := 0
	for _, e := range r.ends {
		r.out = append(r.out, r.buf[start:e])
		start = e
	}
	return r.out
}

// SubscribeRequests returns the initial subscribe request(s) for every
// book, counted against the hourly request budget, and starts the
// snapshot wait at now. The frames are valid until the next call that
// builds requests.
func (s *Session) SubscribeRequests(now int64) [][]byte {
	syms := make([]string, len(s.books))
	for i := range s.books {
		syms[i] = s.books[i].sym
	}
	s.req.reset()
	s.req.add("subscribe", s.wireChan, syms)
	out := s.req.frames()
	if !s.budget.take(now, len(out)) {
		s.reconnect, s.reconnCause = true, exchange.CauseConnecting
		return nil
	}
	for i := range s.books {
		bk := &s.books[i]
		bk.state, bk.cause, bk.waitSince, bk.subbed = stWaiting, exchange.CauseConnecting, now, true
	}
	s.subscribed = true
	s.nextCheck = now + int64(checkEvery)
	s.lastData = now
	return out
}

// NeedResubscribe reports whether some book waits for a resubscription.
func (s *Session) NeedResubscribe() bool {
	if s.reconnect {
		return false
	}
	for i := range s.books {
		if s.books[i].state == stNeedResub {
			return true
		}
	}
	return false
}

// Resubscribe returns the requests that rebuild every book waiting for it:
// one unsubscribe for those still subscribed, then one subscribe (OKX sends
// a fresh snapshot for a new subscription). Both count against the hourly
// budget. It returns nil, and NeedReconnect turns true, when the budget is
// exhausted or a book has failed maxResubTries resubscriptions in a row:
// reconnecting is then the cheaper way back.
func (s *Session) Resubscribe(now int64) [][]byte {
	var un, re []string
	var cause exchange.StaleCause
	for i := range s.books {
		bk := &s.books[i]
		if bk.state != stNeedResub {
			continue
		}
		if cause == exchange.CauseNone {
			cause = bk.cause
		}
		if bk.tries >= maxResubTries {
			s.lim.Log(now, "okx: book keeps failing to resync, reconnecting", slog.String("venue", s.name), slog.String("inst", bk.sym))
			s.reconnect, s.reconnCause = true, bk.cause
			return nil
		}
		if bk.subbed {
			un = append(un, bk.sym)
		}
		re = append(re, bk.sym)
	}
	if len(re) == 0 {
		return nil
	}
	s.req.reset()
	if len(un) > 0 {
		s.req.add("unsubscribe", s.wireChan, un)
	}
	s.req.add("subscribe", s.wireChan, re)
	out := s.req.frames()
	if !s.budget.take(now, len(out)) {
		s.lim.Log(now, "okx: hourly subscribe budget exhausted, reconnecting", slog.String("venue", s.name))
		s.reconnect, s.reconnCause = true, cause
		return nil
	}
	for i := range s.books {
		bk := &s.books[i]
		if bk.state == stNeedResub {
			bk.state, bk.waitSince, bk.subbed = stWaiting, now, true
			bk.tries++
			s.stats.Resyncs.Add(1)
		}
	}
	return out
}

package execute

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata scripts")

// The scripts in testdata/*.txt are the executor's specification: each
// block is a command, a "----" line and the output it must produce (the
// Ready it hands out, or the state asked for), ended by a blank line. Run
// with -update to rewrite the outputs, then review the diff like code.
//
// Commands (times are relative to the script's start; quantities and
// prices decimals in the instrument's scale):
//
//	policy key=value...          set the policy of the next open (config keys)
//	book venue=A bid=P ask=P     set a venue's book (bid=none: no book)
//	open [qty=Q] [buy=A@P] [sell=B@P] [net=N]
//	tick DURATION                advance the clock (e.g. 500ms) and tick
//	placed|queried|canceled|push order=N status=S [filled=Q] [vid=ID] [cid=ID] [fee=F asset=X]
//	place-failed|query-failed|cancel-failed order=N kind=K [retry_after=D]
//	                             a call's answer: to the call in flight, unless
//	                             attempt=N (the send it answers) or sent=D (when
//	                             the call went out) say it is an older one's
//	fill (order=N|vid=ID venue=V side=S) qty=Q px=P id=ID [fee=F asset=X]
//	fetched venue=V              a FillsSince finished
//	stream venue=V up|down
//	halt | resume                the kill switch
//	crash                        replay the journal (JSON) into a new executor,
//	                             check it rebuilt the trade exactly, and recover
//	state                        the trade's durable state
//	view                         the trade's JSON view
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type block struct {
	cmd      string
	expected string
	line     int
}

func parseScript(t testing.TB, path string) (blocks []block, comments map[int][]string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	comments = map[int][]string{}
	var cur *block
	inOut := false
	var out []string
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case inOut:
			if line == "" {
				cur.expected = strings.Join(out, "\n")
				blocks = append(blocks, *cur)
				cur, inOut, out = nil, false, nil
				continue
			}
			out = append(out, line)
		case strings.HasPrefix(line, "#") || (line == "" && cur == nil):
			comments[len(blocks)] = append(comments[len(blocks)], line)
		case line == "----":
			if cur == nil {
				t.Fatalf("%s:%d: ---- without a command", path, n)
			}
			inOut = true
		case cur == nil:
			cur = &block{cmd: line, line: n}
		default:
			t.Fatalf("%s:%d: one command per block", path, n)
		}
	}
	if cur != nil {
		if !inOut {
			t.Fatalf("%s:%d: command without ----", path, cur.line)
		}
		cur.expected = strings.Join(out, "\n")
		blocks = append(blocks, *cur)
	}
	return blocks, comments
}

func runScript(t *testing.T, path string) {
	blocks, comments := parseScript(t, path)
	h := newHarness(t)
	var rewritten strings.Builder
	failed := false
	for i, b := range blocks {
		for _, c := range comments[i] {
			rewritten.WriteString(c + "\n")
		}
		got := h.run(b.cmd)
		got = strings.TrimRight(got, "\n")
		if got == "" {
			got = "ok"
		}
		if !*update && got != b.expected {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", path, b.line, b.cmd, b.expected, got)
			failed = true
		}
		fmt.Fprintf(&rewritten, "%s\n----\n%s\n\n", b.cmd, got)
	}
	for _, c := range comments[len(blocks)] {
		rewritten.WriteString(c + "\n")
	}
	if *update {
		out := strings.TrimRight(rewritten.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = failed
}

// harness runs one executor on a fake clock with two venues A and B
// listing BTC-USDT (prices 2 decimals, quantities 3).
type harness struct {
	t       testing.TB
	reg     *exchange.Registry
	cfg     Config
	ex      *Executor
	codec   *Codec
	journal [][]byte
	start   int64
	now     int64
	books   map[exchange.VenueID][2]num.Price
	pol     Policy
	trade   TradeID
	plans   spread.PlanID
}

var testScale = num.Scale{Px: 2, Qty: 3}

const (
	venueA = exchange.VenueID(1)
	venueB = exchange.VenueID(2)
	btc    = exchange.InstrumentID(1)
)

func testRegistry() *exchange.Registry {
	return &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: venueA, Name: "A", Kind: "sim"}, {ID: venueB, Name: "B", Kind: "sim"}},
		Assets: []exchange.Asset{{}, {ID: btc, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: testScale}},
	}
}

// testInstruments: A trades in 0.001 steps, B in 0.01 (coarser), both with
// a 5 USDT minimum notional.
func testInstruments() []exchange.Instrument {
	return []exchange.Instrument{
		{ID: btc, Venue: venueA, Symbol: "BTCUSDT", Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: testScale,
			Tick: 1, Step: 1, MinQty: 1, MinNotional: 500},
		{ID: btc, Venue: venueB, Symbol: "BTC-USDT", Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: testScale,
			Tick: 1, Step: 10, MinQty: 10, MinNotional: 500},
	}
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, reg: testRegistry(), books: map[exchange.VenueID][2]num.Price{}, pol: DefaultPolicy()}
	h.start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	h.now = h.start
	h.codec = NewCodec(h.reg)
	h.cfg = DefaultConfig()
	h.cfg.Registry = h.reg
	h.cfg.Instruments = testInstruments()
	h.cfg.Quotes = func(v exchange.VenueID, _ exchange.InstrumentID) (num.Price, num.Price, bool) {
		b, ok := h.books[v]
		return b[0], b[1], ok
	}
	h.cfg.FeeRates = func(asset *exchange.ID, quote string) (num.Amount, bool) {
		if asset.String() == "BNB" && quote == "USDT" {
			return num.Amount{V: 3005, Dec: 1}, true // 300.5
		}
		return num.Amount{}, false
	}
	var err error
	if h.ex, err = New(h.cfg); err != nil {
		t.Fatal(err)
	}
	h.ex.Recover(h.now)
	h.ex.Step(h.now, &Event{Kind: EvStream, Venue: venueA, Up: true})
	h.ex.Step(h.now, &Event{Kind: EvStream, Venue: venueB, Up: true})
	h.flush() // the epoch record
	return h
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf(format, args...)
}

func args(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			m[f] = ""
			continue
		}
		m[k] = v
	}
	return m
}

func (h *harness) px(s string) num.Price {
	v, err := num.ParseString(s, testScale.Px)
	if err != nil {
		h.fatalf("price %q: %v", s, err)
	}
	return num.Price(v)
}

func (h *harness) qty(s string) num.Qty {
	v, err := num.ParseString(s, testScale.Qty)
	if err != nil {
		h.fatalf("qty %q: %v", s, err)
	}
	return num.Qty(v)
}

func (h *harness) venue(s string) exchange.VenueID {
	switch s {
	case "A":
		return venueA
	case "B":
		return venueB
	}
	h.fatalf("venue %q", s)
	return 0
}

func (h *harness) dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		h.fatalf("duration %q: %v", s, err)
	}
	return d
}

func kindNamed(s string) exchange.ErrorKind {
	for k := exchange.KindUnknown; k <= exchange.KindDuplicate; k++ {
		if k.String() == s {
			return k
		}
	}
	return 255
}

func (h *harness) run(cmd string) string {
	fields := strings.Fields(cmd)
	a := args(fields[1:])
	switch fields[0] {
	case "policy":
		h.setPolicy(a)
		return "ok"
	case "book":
		v := h.venue(a["venue"])
		if a["bid"] == "none" {
			delete(h.books, v)
		} else {
			h.books[v] = [2]num.Price{h.px(a["bid"]), h.px(a["ask"])}
		}
		return "ok"
	case "open":
		return h.open(a)
	case "tick":
		h.now += int64(h.dur(fields[1]))
		h.ex.Tick(h.now)
		return h.flush()
	case "placed", "queried", "canceled", "push":
		kind := map[string]EventKind{"placed": EvPlaced, "queried": EvQueried, "canceled": EvCanceled, "push": EvOrder}[fields[0]]
		ev := Event{Kind: kind, Trade: h.trade, Order: h.order(a)}
		ev.State = h.state(int(ev.Order), a)
		h.answers(&ev, a)
		h.ex.Step(h.now, &ev)
		return h.flush()
	case "place-failed", "query-failed", "cancel-failed":
		kind := map[string]EventKind{"place-failed": EvPlaceFailed, "query-failed": EvQueryFailed, "cancel-failed": EvCancelFailed}[fields[0]]
		ev := Event{Kind: kind, Trade: h.trade, Order: h.order(a), Err: kindNamed(a["kind"])}
		if ra, ok := a["retry_after"]; ok {
			ev.RetryAfter = h.dur(ra)
		}
		h.answers(&ev, a)
		h.ex.Step(h.now, &ev)
		return h.flush()
	case "fill":
		ev := Event{Kind: EvFill, Fill: h.fill(a)}
		h.ex.Step(h.now, &ev)
		return h.flush()
	case "fetched":
		v := h.venue(a["venue"])
		h.ex.Step(h.now, &Event{Kind: EvFillsFetched, Trade: h.trade, Venue: v, Inst: btc})
		return h.flush()
	case "stream":
		_, up := a["up"]
		h.ex.Step(h.now, &Event{Kind: EvStream, Venue: h.venue(a["venue"]), Up: up})
		return h.flush()
	case "crash":
		return h.crash()
	case "halt":
		h.ex.Halt()
		h.ex.Tick(h.now)
		return h.flush()
	case "resume":
		h.ex.Resume()
		return "ok"
	case "state":
		return h.stateDump()
	case "view":
		t := h.ex.Trade(h.trade)
		if t == nil {
			return "no trade"
		}
		b, err := json.MarshalIndent(t.View(h.reg), "", "  ")
		if err != nil {
			h.fatalf("view: %v", err)
		}
		return string(b)
	}
	h.fatalf("unknown command %q", cmd)
	return ""
}

func (h *harness) setPolicy(a map[string]string) {
	p := &h.pol
	for k, v := range a {
		switch k {
		case "mode":
			m, ok := ParseMode(v)
			if !ok {
				h.fatalf("mode %q", v)
			}
			p.Mode = m
		case "first":
			p.First = exchange.Buy
			if v == "sell" {
				p.First = exchange.Sell
			}
		default:
			ints := map[string]*int{"retry_max": &p.RetryMax, "retry_slippage_bps": &p.RetrySlippageBps, "unwind_max": &p.UnwindMax,
				"unwind_slippage_bps": &p.UnwindSlippageBps, "unwind_max_loss_bps": &p.UnwindMaxLossBps, "max_resends": &p.MaxResends}
			durs := map[string]*time.Duration{"retry_window": &p.RetryWindow, "unwind_window": &p.UnwindWindow,
				"ack_timeout": &p.AckTimeout, "final_timeout": &p.FinalTimeout, "query_interval": &p.QueryInterval,
				"not_found_after": &p.NotFoundAfter, "resend_window": &p.ResendWindow, "fill_timeout": &p.FillTimeout, "deadline": &p.Deadline}
			if d, ok := durs[k]; ok {
				*d = h.dur(v)
			} else if n, ok := ints[k]; ok {
				x, err := strconv.Atoi(v)
				if err != nil {
					h.fatalf("%s=%q", k, v)
				}
				*n = x
			} else {
				h.fatalf("policy key %q", k)
			}
		}
	}
	if err := p.Validate(); err != nil {
		h.fatalf("policy: %v", err)
	}
}

func (h *harness) open(a map[string]string) string {
	q := h.qty(or(a["qty"], "1"))
	buyV, buyPx, _ := strings.Cut(or(a["buy"], "A@100"), "@")
	sellV, sellPx, _ := strings.Cut(or(a["sell"], "B@101"), "@")
	h.plans++
	p := spread.Plan{ID: h.plans, Symbol: "BTC-USDT", Scale: testScale, Qty: q, NetQuote: num.Quote(h.px(or(a["net"], "0.5"))), TS: h.now - int64(100*time.Microsecond),
		Buy:  spread.Leg{Venue: h.venue(buyV), Inst: btc, Side: exchange.Buy, LimitPx: h.px(buyPx), Qty: q, BookRecvTS: h.now - int64(time.Millisecond)},
		Sell: spread.Leg{Venue: h.venue(sellV), Inst: btc, Side: exchange.Sell, LimitPx: h.px(sellPx), Qty: q, BookRecvTS: h.now - int64(200*time.Microsecond)}}
	h.ex.cfg.Default = h.pol
	id, err := h.ex.Open(h.now, &p, 0)
	if err != nil {
		return "error: " + err.Error()
	}
	h.trade = id
	return h.flush()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (h *harness) order(a map[string]string) uint8 {
	n, err := strconv.Atoi(a["order"])
	if err != nil {
		h.fatalf("order=%q", a["order"])
	}
	return uint8(n)
}

func (h *harness) orderReq(i int) *exchange.OrderRequest {
	t := h.ex.Trade(h.trade)
	if t == nil || i >= t.Orders() {
		h.fatalf("no order %d", i)
	}
	return t.Order(i)
}

func statusNamed(s string) exchange.OrderStatus {
	st, err := parseStatus(s)
	if err != nil {
		return 0
	}
	return st
}

func (h *harness) state(i int, a map[string]string) exchange.OrderState {
	req := h.orderReq(i)
	st := exchange.OrderState{Venue: req.Venue, Inst: req.Inst, Side: req.Side, TIF: req.TIF, Status: statusNamed(a["status"]),
		ClientID: req.ClientID, Px: req.Px, Qty: req.Qty, TS: h.now}
	if f, ok := a["filled"]; ok {
		st.FilledQty = h.qty(f)
	}
	vid := a["vid"]
	if vid == "" {
		vid = fmt.Sprintf("V%d", i)
	}
	st.VenueOrderID = exchange.MustID(vid)
	if c, ok := a["cid"]; ok {
		st.ClientID = exchange.MustID(c)
	}
	if fee, ok := a["fee"]; ok {
		am, err := num.ParseAmountString(fee)
		if err != nil {
			h.fatalf("fee %q", fee)
		}
		st.Fee, st.FeeAsset = am, exchange.MustID(a["asset"])
	}
	return st
}

// answers makes ev the answer to the order's call in flight (its send
// attempt and the time the call went out), unless attempt= or sent= say
// it answers an older one.
func (h *harness) answers(ev *Event, a map[string]string) {
	t := h.ex.Trade(h.trade)
	if t == nil || int(ev.Order) >= t.n {
		return
	}
	o := &t.orders[ev.Order]
	ev.Attempt, ev.CallAt = o.resends, o.callAt
	if o.call == 0 {
		ev.CallAt = h.now
	}
	if v, ok := a["attempt"]; ok {
		n, _ := strconv.Atoi(v)
		ev.Attempt = uint8(n)
	}
	if v, ok := a["sent"]; ok {
		ev.CallAt = h.start + int64(h.dur(v))
	}
}

func (h *harness) fill(a map[string]string) exchange.Fill {
	f := exchange.Fill{TradeID: exchange.MustID(a["id"]), Px: h.px(a["px"]), Qty: h.qty(a["qty"]), TS: h.now}
	if o, ok := a["order"]; ok {
		n, _ := strconv.Atoi(o)
		req := h.orderReq(n)
		f.Venue, f.Inst, f.Side, f.ClientID = req.Venue, req.Inst, req.Side, req.ClientID
		f.VenueOrderID = exchange.MustID(fmt.Sprintf("V%d", n))
	} else {
		f.Venue, f.Inst = h.venue(a["venue"]), btc
		f.Side = exchange.Buy
		if a["side"] == "sell" {
			f.Side = exchange.Sell
		}
		f.VenueOrderID = exchange.MustID(a["vid"])
	}
	if fee, ok := a["fee"]; ok {
		am, err := num.ParseAmountString(fee)
		if err != nil {
			h.fatalf("fee %q", fee)
		}
		f.Fee, f.FeeAsset = am, exchange.MustID(a["asset"])
	}
	return f
}

func (h *harness) rel(ns int64) string {
	d := time.Duration(ns - h.start)
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// flush prints the Ready, journals its records through the codec (as the
// driver does) and advances.
func (h *harness) flush() string {
	rd := h.ex.Ready()
	var b strings.Builder
	for i := range rd.Records {
		r := &rd.Records[i]
		b.WriteString(h.fmtRecord(r))
		b.WriteByte('\n')
		e, err := h.codec.Entry(r)
		if err != nil {
			h.fatalf("encode %s: %v", r.Kind, err)
		}
		back, err := h.codec.Unmarshal(e.Data)
		if err != nil {
			h.fatalf("decode %s: %v\n%s", r.Kind, err, e.Data)
		}
		if h.codec.MsgID(&back) != e.ID {
			h.fatalf("msg id changed through JSON: %s vs %s", h.codec.MsgID(&back), e.ID)
		}
		if !sameRecord(r, &back) {
			h.fatalf("record changed through JSON:\n%+v\n%+v", *r, back)
		}
		h.journal = append(h.journal, e.Data)
	}
	for i := range rd.Calls {
		b.WriteString(h.fmtCall(&rd.Calls[i]))
		b.WriteByte('\n')
	}
	h.ex.Advance()
	return b.String()
}

func (h *harness) name(v exchange.VenueID) string { return h.reg.VenueName(v) }

func fq(q num.Qty) string   { return num.Format(int64(q), testScale.Qty) }
func fp(p num.Price) string { return num.Format(int64(p), testScale.Px) }

func (h *harness) fmtRecord(r *Record) string {
	switch r.Kind {
	case RecEpoch:
		return "epoch"
	case RecOpen:
		op := r.Open
		return fmt.Sprintf("open qty=%s buy=%s@%s sell=%s@%s mode=%s deadline=%s", fq(op.Qty),
			h.name(op.Legs[0].Venue), fp(op.Legs[0].Limit), h.name(op.Legs[1].Venue), fp(op.Legs[1].Limit), op.Policy.Mode,
			h.rel(r.TS+int64(op.Policy.Deadline)))
	case RecIntent:
		q := &r.Req
		return fmt.Sprintf("intent #%d %s %s %s %s@%s", r.Order, r.Purpose, h.name(q.Venue), q.Side, fq(q.Qty), fp(q.Px))
	case RecResend:
		return fmt.Sprintf("resend #%d attempt=%d", r.Order, r.Attempt)
	case RecState:
		s := fmt.Sprintf("state #%d %s filled=%s", r.Order, r.State.Status, fq(r.State.FilledQty))
		if !r.State.Fee.IsZero() {
			s += fmt.Sprintf(" fee=%s %s rate=%s", r.State.Fee, r.State.FeeAsset, r.FeeRate)
		}
		return s
	case RecFailed:
		return fmt.Sprintf("failed #%d %s", r.Order, r.Reason)
	case RecFill:
		s := fmt.Sprintf("fill #%d %s %s %s@%s id=%s", r.Order, h.name(r.Fill.Venue), r.Fill.Side, fq(r.Fill.Qty), fp(r.Fill.Px), r.Fill.TradeID)
		if !r.Fill.Fee.IsZero() {
			s += fmt.Sprintf(" fee=%s %s rate=%s", r.Fill.Fee, r.Fill.FeeAsset, r.FeeRate)
		}
		return s
	case RecTransition:
		if r.To.Closed() {
			return fmt.Sprintf("transition %s residual=%s unresolved=%d", r.To, fq(r.Residual), r.Unresolved)
		}
		return "transition " + r.To.String()
	case RecRecover:
		return "recover"
	}
	return "record " + r.Kind.String()
}

func (h *harness) fmtCall(c *Call) string {
	q := &c.Req
	switch c.Kind {
	case CallPlace:
		return fmt.Sprintf("call place #%d %s %s %s@%s", c.Order, h.name(q.Venue), q.Side, fq(q.Qty), fp(q.Px))
	case CallFetchFills:
		return fmt.Sprintf("call fills %s since=%s", h.name(q.Venue), h.rel(c.Since))
	}
	return fmt.Sprintf("call %s #%d %s", c.Kind, c.Order, h.name(q.Venue))
}

func (h *harness) stateDump() string {
	t := h.ex.Trade(h.trade)
	if t == nil {
		return "no trade"
	}
	b, s := t.Position()
	out := fmt.Sprintf("%s bought=%s sold=%s residual=%s deadline=%s\n", t.State(), fq(b), fq(s), fq(b-s), h.rel(t.Deadline()))
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		out += fmt.Sprintf("#%d %s %s %s %s@%s: %s", i, o.purpose, h.name(o.req.Venue), o.req.Side, fq(o.req.Qty), fp(o.req.Px), t.legView(i, h.reg).Status)
		out += fmt.Sprintf(" filled=%s fills=%s", fq(o.filled()), fq(o.fillQty))
		if o.resends > 0 {
			out += fmt.Sprintf(" resends=%d", o.resends)
		}
		out += "\n"
	}
	if t.state.Closed() {
		out += "realized=" + t.Realized().String() + "\n"
	}
	return out
}

// crash rebuilds the executor from the journal, as a restarted daemon
// does, checks every trade came back exactly, and recovers.
func (h *harness) crash() string {
	old := h.ex
	ex, err := New(h.cfg)
	if err != nil {
		h.fatalf("new: %v", err)
	}
	ex.cfg.Default = h.pol
	for _, data := range h.journal {
		rec, err := h.codec.Unmarshal(data)
		if err != nil {
			h.fatalf("replay: %v", err)
		}
		if err := ex.Restore(&rec); err != nil {
			h.fatalf("restore: %v", err)
		}
	}
	old.Trades(func(t *Trade) bool {
		nt := ex.Trade(t.id)
		if nt == nil {
			h.fatalf("trade %s not rebuilt", t.id)
		}
		if a, b := durable(t), durable(nt); a != b {
			h.fatalf("trade %s rebuilt differently:\n%s\n---\n%s", t.id, a, b)
		}
		return true
	})
	h.ex = ex
	// Venue streams are down until they say otherwise after a restart.
	h.now += int64(time.Second)
	ex.Recover(h.now)
	return h.flush()
}

// durable renders the durable state of a trade: what a replay must
// rebuild.
func durable(t *Trade) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %+v %s open=%d phase=%d deadline=%d closed=%d residual=%d unresolved=%d n=%d\n",
		t.id, t.open, t.state, t.openedAt, t.phaseAt, t.deadline, t.closedAt, t.residual, t.unresolved, t.n)
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		d := *o
		// Zero the volatile part.
		d.call, d.callAt, d.unknown, d.resendDue, d.next, d.liveAt, d.cancelAt, d.recheck, d.indexed = 0, 0, false, false, 0, 0, 0, false, false
		fmt.Fprintf(&b, "%+v\n", d)
	}
	fills := make([]string, len(t.fills))
	for i, f := range t.fills {
		fills[i] = fmt.Sprintf("%+v", f)
	}
	sort.Strings(fills)
	b.WriteString(strings.Join(fills, "\n"))
	return b.String()
}

// sameRecord reports whether two records are equal, openings by value.
func sameRecord(a, b *Record) bool {
	x, y := *a, *b
	if (x.Open == nil) != (y.Open == nil) || x.Open != nil && *x.Open != *y.Open {
		return false
	}
	x.Open, y.Open = nil, nil
	return reflect.DeepEqual(x, y)
}

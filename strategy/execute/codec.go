package execute

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// SubjectPrefix starts the journal subject of every record: the wiring
// publishes a record on SubjectPrefix + its kind ("arb.exec.fill").
const SubjectPrefix = "arb.exec."

// RecordVersion is the version of the JSON form written; the decoder
// refuses any other.
const RecordVersion = 1

// maxRecordBytes bounds one encoded record; the decoder refuses more.
const maxRecordBytes = 16 << 10

// Entry is one record as the journal stores it: the subject to publish
// on, the deduplication id (JetStream's Nats-Msg-Id) and the JSON.
type Entry struct {
	Subject string
	ID      string
	Data    []byte
}

// ErrRecord is wrapped by every decoding error.
var ErrRecord = errors.New("execute: bad record")

// Codec turns records into journal entries and back. Records name venues
// and instruments by their configured names and canonical symbols, never
// by the ids interned at start-up (which change when the configuration
// does). It is read-only after NewCodec and safe for concurrent use.
type Codec struct {
	reg    *exchange.Registry
	venues map[string]exchange.VenueID
	insts  map[string]exchange.InstrumentID
}

// NewCodec returns a codec for the venues and instruments of reg.
func NewCodec(reg *exchange.Registry) *Codec {
	c := &Codec{reg: reg, venues: map[string]exchange.VenueID{}, insts: map[string]exchange.InstrumentID{}}
	for i, v := range reg.Venues {
		if i > 0 && v.Name != "" {
			c.venues[v.Name] = exchange.VenueID(i)
		}
	}
	for i, a := range reg.Assets {
		if i > 0 && a.Symbol != "" {
			c.insts[a.Symbol] = exchange.InstrumentID(i)
		}
	}
	return c
}

// The JSON form. Decimals are strings in the instrument's scale (or the
// amount's own precision); times are RFC 3339 UTC with nanoseconds.
type wireRecord struct {
	V          int          `json:"v"`
	Kind       string       `json:"kind"`
	Trade      string       `json:"trade,omitempty"`
	TS         string       `json:"ts"`
	Order      *int         `json:"order,omitempty"`
	ClientID   string       `json:"client_order_id,omitempty"`
	Open       *wireOpen    `json:"open,omitempty"`
	Intent     *wireIntent  `json:"intent,omitempty"`
	Attempt    int          `json:"attempt,omitempty"`
	State      *wireState   `json:"state,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	Fill       *wireFill    `json:"fill,omitempty"`
	Transition *wireToState `json:"transition,omitempty"`
	Epoch      uint32       `json:"epoch,omitempty"`
}

type wireOpen struct {
	PlanID      string     `json:"plan_id"`
	Symbol      string     `json:"symbol"`
	PxDecimals  uint8      `json:"px_decimals"`
	QtyDecimals uint8      `json:"qty_decimals"`
	Qty         string     `json:"qty"`
	ExpectedNet string     `json:"expected_net_quote"`
	PlanTS      string     `json:"plan_ts"`
	TickTS      string     `json:"tick_ts,omitempty"`
	Prefix      string     `json:"prefix"`
	Legs        [2]wireLeg `json:"legs"`
	Policy      wirePolicy `json:"policy"`
}

type wireLeg struct {
	Venue       string `json:"venue"`
	Instrument  string `json:"instrument"`
	Side        string `json:"side"`
	Limit       string `json:"limit"`
	Qty         string `json:"qty"`
	Base        string `json:"base"`
	Quote       string `json:"quote"`
	Tick        string `json:"tick"`
	Step        string `json:"step"`
	MinQty      string `json:"min_qty"`
	MinNotional string `json:"min_notional"`
}

type wirePolicy struct {
	Mode              string `json:"mode"`
	First             string `json:"first"`
	RetryMax          int    `json:"retry_max"`
	RetrySlippageBps  int    `json:"retry_slippage_bps"`
	RetryWindow       string `json:"retry_window"`
	UnwindMax         int    `json:"unwind_max"`
	UnwindSlippageBps int    `json:"unwind_slippage_bps"`
	UnwindMaxLossBps  int    `json:"unwind_max_loss_bps"`
	UnwindWindow      string `json:"unwind_window"`
	AckTimeout        string `json:"ack_timeout"`
	FinalTimeout      string `json:"final_timeout"`
	QueryInterval     string `json:"query_interval"`
	NotFoundAfter     string `json:"not_found_after"`
	ResendWindow      string `json:"resend_window"`
	MaxResends        int    `json:"max_resends"`
	FillTimeout       string `json:"fill_timeout"`
	Deadline          string `json:"deadline"`
}

type wireIntent struct {
	Purpose    string `json:"purpose"`
	Leg        string `json:"leg"`
	Venue      string `json:"venue"`
	Instrument string `json:"instrument"`
	Side       string `json:"side"`
	Price      string `json:"price"`
	Qty        string `json:"qty"`
	TIF        string `json:"tif"`
}

type wireState struct {
	Venue        string `json:"venue"`
	Instrument   string `json:"instrument"`
	Side         string `json:"side"`
	TIF          string `json:"tif,omitempty"`
	Status       string `json:"status"`
	ClientID     string `json:"client_order_id"`
	VenueOrderID string `json:"venue_order_id,omitempty"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	FilledQty    string `json:"filled_qty"`
	FilledQuote  string `json:"filled_quote"`
	TS           string `json:"ts,omitempty"`
	// Fee is what the order cost without a fill (an on-chain leg's gas),
	// with the rate that converts it into the leg's quote.
	Fee      string `json:"fee,omitempty"`
	FeeAsset string `json:"fee_asset,omitempty"`
	FeeRate  string `json:"fee_rate,omitempty"`
}

type wireFill struct {
	Venue        string `json:"venue"`
	Instrument   string `json:"instrument"`
	Side         string `json:"side"`
	Maker        bool   `json:"maker,omitempty"`
	VenueFillID  string `json:"venue_fill_id"`
	ClientID     string `json:"client_order_id,omitempty"`
	VenueOrderID string `json:"venue_order_id,omitempty"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	Fee          string `json:"fee"`
	FeeAsset     string `json:"fee_asset,omitempty"`
	FeeRate      string `json:"fee_rate,omitempty"`
	TS           string `json:"ts"`
}

type wireToState struct {
	To          string `json:"to"`
	Residual    string `json:"residual_base,omitempty"`
	QtyDecimals uint8  `json:"qty_decimals,omitempty"`
	Unresolved  int    `json:"unresolved,omitempty"`
}

var tifNames = [...]string{"", "ioc", "gtc", "fok"}

func fmtTS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func parseTS(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	// Year 1678..2262: the range of int64 nanoseconds.
	if t.Year() < 1678 || t.Year() > 2261 {
		return 0, errors.New("time out of range")
	}
	return t.UnixNano(), nil
}

// Entry encodes rec for the journal: subject, deduplication id, JSON.
func (c *Codec) Entry(rec *Record) (Entry, error) {
	b, err := c.Marshal(rec)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Subject: SubjectPrefix + rec.Kind.String(), ID: c.MsgID(rec), Data: b}, nil
}

// MsgID returns the record's deduplication id: the same fact recorded twice
// (after a restart, by two paths) has the same id, and JetStream and the
// ledger keep one. Intents are their client order id; fills the venue, the
// instrument and the venue's fill id.
func (c *Codec) MsgID(rec *Record) string {
	cid := rec.ClientID.String()
	switch rec.Kind {
	case RecOpen:
		return rec.Trade.String() + ".open"
	case RecIntent:
		return cid
	case RecResend:
		return cid + ".r" + strconv.Itoa(int(rec.Attempt))
	case RecState:
		return cid + ".s" + strconv.Itoa(int(rec.State.Status)) + "." + strconv.FormatInt(int64(rec.State.FilledQty), 10)
	case RecFailed:
		return cid + ".x"
	case RecFill:
		return "fill." + c.reg.VenueName(rec.Fill.Venue) + "." + c.symbol(rec.Fill.Inst) + "." + rec.Fill.TradeID.String()
	case RecTransition:
		return rec.Trade.String() + "." + rec.To.String()
	case RecRecover:
		return rec.Trade.String() + ".recover." + strconv.FormatInt(rec.TS, 10)
	case RecEpoch:
		return "epoch." + strconv.FormatUint(uint64(rec.Epoch), 10)
	}
	return ""
}

func (c *Codec) symbol(i exchange.InstrumentID) string {
	if a := c.reg.Asset(i); a != nil {
		return a.Symbol
	}
	return ""
}

func (c *Codec) scale(i exchange.InstrumentID) num.Scale {
	if a := c.reg.Asset(i); a != nil {
		return a.Scale
	}
	return num.Scale{}
}

func fmtSide(s exchange.Side) string { return s.String() }

// Marshal returns the JSON form of rec.
func (c *Codec) Marshal(rec *Record) ([]byte, error) {
	w := wireRecord{V: RecordVersion, Kind: rec.Kind.String(), TS: fmtTS(rec.TS)}
	if rec.Kind != RecEpoch {
		w.Trade = rec.Trade.String()
	}
	switch rec.Kind {
	case RecIntent, RecResend, RecState, RecFailed, RecFill:
		n := int(rec.Order)
		w.Order = &n
		w.ClientID = rec.ClientID.String()
	}
	switch rec.Kind {
	case RecOpen:
		if rec.Open == nil {
			return nil, fmt.Errorf("%w: open record without opening", ErrRecord)
		}
		op, err := c.marshalOpen(rec.Open)
		if err != nil {
			return nil, err
		}
		w.Open = op
	case RecIntent:
		q := &rec.Req
		sc := c.scale(q.Inst)
		leg := "buy"
		if rec.Leg == LegSell {
			leg = "sell"
		}
		tif := ""
		if int(q.TIF) < len(tifNames) {
			tif = tifNames[q.TIF]
		}
		w.Intent = &wireIntent{Purpose: rec.Purpose.String(), Leg: leg, Venue: c.reg.VenueName(q.Venue), Instrument: c.symbol(q.Inst),
			Side: fmtSide(q.Side), Price: num.Format(int64(q.Px), sc.Px), Qty: num.Format(int64(q.Qty), sc.Qty), TIF: tif}
	case RecResend:
		w.Attempt = int(rec.Attempt)
	case RecState:
		st := &rec.State
		sc := c.scale(st.Inst)
		ws := &wireState{Venue: c.reg.VenueName(st.Venue), Instrument: c.symbol(st.Inst), Side: fmtSide(st.Side),
			Status: st.Status.String(), ClientID: st.ClientID.String(), VenueOrderID: st.VenueOrderID.String(),
			Price: num.Format(int64(st.Px), sc.Px), Qty: num.Format(int64(st.Qty), sc.Qty),
			FilledQty: num.Format(int64(st.FilledQty), sc.Qty), FilledQuote: st.FilledQuote.String()}
		if int(st.TIF) < len(tifNames) {
			ws.TIF = tifNames[st.TIF]
		}
		if st.TS != 0 {
			ws.TS = fmtTS(st.TS)
		}
		if !st.Fee.IsZero() {
			ws.Fee, ws.FeeAsset = st.Fee.String(), st.FeeAsset.String()
			if !rec.FeeRate.IsZero() {
				ws.FeeRate = rec.FeeRate.String()
			}
		}
		w.State = ws
	case RecFailed:
		w.Reason = rec.Reason.String()
	case RecFill:
		f := &rec.Fill
		sc := c.scale(f.Inst)
		wf := &wireFill{Venue: c.reg.VenueName(f.Venue), Instrument: c.symbol(f.Inst), Side: fmtSide(f.Side), Maker: f.Maker,
			VenueFillID: f.TradeID.String(), ClientID: f.ClientID.String(), VenueOrderID: f.VenueOrderID.String(),
			Price: num.Format(int64(f.Px), sc.Px), Qty: num.Format(int64(f.Qty), sc.Qty), Fee: f.Fee.String(),
			FeeAsset: f.FeeAsset.String(), TS: fmtTS(f.TS)}
		if !rec.FeeRate.IsZero() {
			wf.FeeRate = rec.FeeRate.String()
		}
		w.Fill = wf
	case RecTransition:
		tr := &wireToState{To: rec.To.String(), Unresolved: int(rec.Unresolved)}
		if rec.To.Closed() {
			tr.Residual, tr.QtyDecimals = num.Format(int64(rec.Residual), rec.QtyDecimals), rec.QtyDecimals
		}
		w.Transition = tr
	case RecRecover:
	case RecEpoch:
		w.Epoch = rec.Epoch
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrRecord, rec.Kind)
	}
	return json.Marshal(&w)
}

func (c *Codec) marshalOpen(op *Opening) (*wireOpen, error) {
	sc := op.Scale
	w := &wireOpen{PlanID: op.Plan.String(), Symbol: op.Symbol, PxDecimals: sc.Px, QtyDecimals: sc.Qty,
		Qty: num.Format(int64(op.Qty), sc.Qty), ExpectedNet: num.Format(int64(op.ExpectedNet), sc.Px),
		PlanTS: fmtTS(op.PlanTS), Prefix: op.Prefix}
	if op.TickTS != 0 {
		w.TickTS = fmtTS(op.TickTS)
	}
	for i := range op.Legs {
		l := &op.Legs[i]
		w.Legs[i] = wireLeg{Venue: c.reg.VenueName(l.Venue), Instrument: c.symbol(l.Inst), Side: fmtSide(l.Side),
			Limit: num.Format(int64(l.Limit), sc.Px), Qty: num.Format(int64(l.Qty), sc.Qty), Base: l.Base, Quote: l.Quote,
			Tick: num.Format(int64(l.Filters.Tick), sc.Px), Step: num.Format(int64(l.Filters.Step), sc.Qty),
			MinQty: num.Format(int64(l.Filters.MinQty), sc.Qty), MinNotional: num.Format(int64(l.Filters.MinNotional), sc.Px)}
		if w.Legs[i].Venue == "" || w.Legs[i].Instrument == "" {
			return nil, fmt.Errorf("%w: leg %d: venue %d or instrument %d not in the registry", ErrRecord, i, l.Venue, l.Inst)
		}
	}
	p := &op.Policy
	w.Policy = wirePolicy{Mode: p.Mode.String(), First: fmtSide(p.First), RetryMax: p.RetryMax, RetrySlippageBps: p.RetrySlippageBps,
		RetryWindow: p.RetryWindow.String(), UnwindMax: p.UnwindMax, UnwindSlippageBps: p.UnwindSlippageBps,
		UnwindMaxLossBps: p.UnwindMaxLossBps, UnwindWindow: p.UnwindWindow.String(), AckTimeout: p.AckTimeout.String(),
		FinalTimeout: p.FinalTimeout.String(), QueryInterval: p.QueryInterval.String(), NotFoundAfter: p.NotFoundAfter.String(),
		ResendWindow: p.ResendWindow.String(), MaxResends: p.MaxResends, FillTimeout: p.FillTimeout.String(), Deadline: p.Deadline.String()}
	return w, nil
}

// Unmarshal decodes one record. Anything that is not exactly a record this
// version writes — unknown fields or kinds, a venue or instrument not
// configured, a malformed number, id or time — is an error wrapping
// ErrRecord: a journal that cannot be read back is not guessed at. An open
// record's Opening is allocated.
func (c *Codec) Unmarshal(b []byte) (Record, error) {
	var rec Record
	if len(b) > maxRecordBytes {
		return rec, fmt.Errorf("%w: %d bytes", ErrRecord, len(b))
	}
	var w wireRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return rec, fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if dec.More() {
		return rec, fmt.Errorf("%w: trailing data", ErrRecord)
	}
	if err := c.decode(&w, &rec); err != nil {
		return Record{}, fmt.Errorf("%w: %s record: %v", ErrRecord, w.Kind, err)
	}
	return rec, nil
}

func (c *Codec) decode(w *wireRecord, rec *Record) error {
	if w.V != RecordVersion {
		return fmt.Errorf("version %d", w.V)
	}
	k, ok := recordKindOf(w.Kind)
	if !ok {
		return errors.New("unknown kind")
	}
	rec.Kind = k
	ts, err := parseTS(w.TS)
	if err != nil {
		return fmt.Errorf("ts: %v", err)
	}
	rec.TS = ts
	if k != RecEpoch {
		id, ok := ParseTradeID(w.Trade)
		if !ok {
			return fmt.Errorf("trade %q", w.Trade)
		}
		rec.Trade = id
	} else if w.Trade != "" {
		return errors.New("trade on an epoch record")
	}
	// Exactly the payload of the kind, nothing else.
	has := [...]bool{w.Open != nil, w.Intent != nil, w.Attempt != 0, w.State != nil, w.Reason != "", w.Fill != nil, w.Transition != nil, w.Epoch != 0}
	want := [...]RecordKind{RecOpen, RecIntent, RecResend, RecState, RecFailed, RecFill, RecTransition, RecEpoch}
	for i, h := range has {
		if h != (want[i] == k) {
			return errors.New("payload does not match the kind")
		}
	}
	switch k {
	case RecIntent, RecResend, RecState, RecFailed, RecFill:
		if w.Order == nil || *w.Order < 0 || *w.Order >= MaxOrders {
			return errors.New("order index")
		}
		rec.Order = uint8(*w.Order)
		cid, ok := exchange.MakeID(w.ClientID)
		if !ok || (k != RecFill && !exchange.ValidClientID(cid)) || (k == RecFill && !cid.IsZero() && !exchange.ValidClientID(cid)) {
			return fmt.Errorf("client_order_id %q", w.ClientID)
		}
		rec.ClientID = cid
	default:
		if w.Order != nil || w.ClientID != "" {
			return errors.New("order fields on a trade record")
		}
	}
	switch k {
	case RecOpen:
		op := new(Opening)
		if err := c.unmarshalOpen(w.Open, op); err != nil {
			return err
		}
		rec.Open = op
	case RecIntent:
		return c.unmarshalIntent(w.Intent, rec)
	case RecResend:
		if w.Attempt < 1 || w.Attempt > 255 {
			return errors.New("attempt")
		}
		rec.Attempt = uint8(w.Attempt)
	case RecState:
		return c.unmarshalState(w.State, rec)
	case RecFailed:
		r, ok := reasonOf(w.Reason)
		if !ok {
			return fmt.Errorf("reason %q", w.Reason)
		}
		rec.Reason = r
	case RecFill:
		return c.unmarshalFill(w.Fill, rec)
	case RecTransition:
		to, ok := stateOf(w.Transition.To)
		if !ok {
			return fmt.Errorf("state %q", w.Transition.To)
		}
		rec.To = to
		if w.Transition.Unresolved < 0 || w.Transition.Unresolved > MaxOrders {
			return errors.New("unresolved")
		}
		rec.Unresolved = uint8(w.Transition.Unresolved)
		if to.Closed() {
			if w.Transition.QtyDecimals > num.MaxDecimals {
				return errors.New("qty_decimals")
			}
			rec.QtyDecimals = w.Transition.QtyDecimals
			r, err := parseNum("residual_base", w.Transition.Residual, rec.QtyDecimals, true)
			if err != nil {
				return err
			}
			rec.Residual = num.Qty(r)
		} else if w.Transition.Residual != "" || w.Transition.Unresolved != 0 || w.Transition.QtyDecimals != 0 {
			return errors.New("residual on an open state")
		}
	case RecEpoch:
		rec.Epoch = w.Epoch
	}
	return nil
}

func (c *Codec) venue(name string) (exchange.VenueID, error) {
	if v, ok := c.venues[name]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("venue %q not configured", name)
}

func (c *Codec) inst(sym string) (exchange.InstrumentID, num.Scale, error) {
	if i, ok := c.insts[sym]; ok {
		return i, c.reg.Assets[i].Scale, nil
	}
	return 0, num.Scale{}, fmt.Errorf("instrument %q not configured", sym)
}

func parseSide(s string) (exchange.Side, error) {
	switch s {
	case "buy":
		return exchange.Buy, nil
	case "sell":
		return exchange.Sell, nil
	}
	return 0, fmt.Errorf("side %q", s)
}

func parseTIF(s string) (exchange.TimeInForce, error) {
	for i := 1; i < len(tifNames); i++ {
		if tifNames[i] == s {
			return exchange.TimeInForce(i), nil
		}
	}
	return 0, fmt.Errorf("tif %q", s)
}

func parseStatus(s string) (exchange.OrderStatus, error) {
	for st := exchange.StatusNew; st <= exchange.StatusRejected; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("status %q", s)
}

// parseNum parses a non-negative (or, with signed, any) decimal of dec
// decimals.
func parseNum(field, s string, dec uint8, signed bool) (int64, error) {
	v, err := num.ParseString(s, dec)
	if err != nil || (!signed && (len(s) == 0 || s[0] == '-')) {
		return 0, fmt.Errorf("%s %q", field, s)
	}
	return v, nil
}

func parseDur(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q", field, s)
	}
	return d, nil
}

func (c *Codec) unmarshalOpen(w *wireOpen, op *Opening) error {
	id, ok := parsePlanID(w.PlanID)
	if !ok {
		return fmt.Errorf("plan_id %q", w.PlanID)
	}
	op.Plan = id
	op.Symbol = w.Symbol
	op.Scale = num.Scale{Px: w.PxDecimals, Qty: w.QtyDecimals}
	if !op.Scale.Valid() {
		return errors.New("scale")
	}
	if !validPrefix(w.Prefix) {
		return fmt.Errorf("prefix %q", w.Prefix)
	}
	op.Prefix = w.Prefix
	sc := op.Scale
	var err error
	var v int64
	if v, err = parseNum("qty", w.Qty, sc.Qty, false); err != nil {
		return err
	}
	op.Qty = num.Qty(v)
	if v, err = parseNum("expected_net_quote", w.ExpectedNet, sc.Px, true); err != nil {
		return err
	}
	op.ExpectedNet = num.Quote(v)
	if op.PlanTS, err = parseTS(w.PlanTS); err != nil {
		return fmt.Errorf("plan_ts: %v", err)
	}
	if w.TickTS != "" {
		if op.TickTS, err = parseTS(w.TickTS); err != nil {
			return fmt.Errorf("tick_ts: %v", err)
		}
	}
	for i := range w.Legs {
		wl, l := &w.Legs[i], &op.Legs[i]
		if l.Venue, err = c.venue(wl.Venue); err != nil {
			return err
		}
		var isc num.Scale
		if l.Inst, isc, err = c.inst(wl.Instrument); err != nil {
			return err
		}
		if isc != sc {
			return fmt.Errorf("instrument %s: scale differs from the opening's", wl.Instrument)
		}
		if l.Side, err = parseSide(wl.Side); err != nil {
			return err
		}
		a := &c.reg.Assets[l.Inst]
		if wl.Base != a.Base || wl.Quote != a.Quote {
			return fmt.Errorf("instrument %s: assets %s/%s differ from the configured %s/%s", wl.Instrument, wl.Base, wl.Quote, a.Base, a.Quote)
		}
		l.Base, l.Quote = a.Base, a.Quote // the registry's strings: no copy kept per record
		fields := []struct {
			name string
			s    string
			dec  uint8
			dst  *int64
		}{
			{"limit", wl.Limit, sc.Px, (*int64)(&l.Limit)}, {"qty", wl.Qty, sc.Qty, (*int64)(&l.Qty)},
			{"tick", wl.Tick, sc.Px, (*int64)(&l.Filters.Tick)}, {"step", wl.Step, sc.Qty, (*int64)(&l.Filters.Step)},
			{"min_qty", wl.MinQty, sc.Qty, (*int64)(&l.Filters.MinQty)},
			{"min_notional", wl.MinNotional, sc.Px, (*int64)(&l.Filters.MinNotional)},
		}
		for _, f := range fields {
			if *f.dst, err = parseNum(f.name, f.s, f.dec, false); err != nil {
				return err
			}
		}
	}
	if op.Legs[LegBuy].Side != exchange.Buy || op.Legs[LegSell].Side != exchange.Sell {
		return errors.New("legs must be buy then sell")
	}
	wp, p := &w.Policy, &op.Policy
	if p.Mode, ok = ParseMode(wp.Mode); !ok {
		return fmt.Errorf("mode %q", wp.Mode)
	}
	if p.First, err = parseSide(wp.First); err != nil {
		return err
	}
	p.RetryMax, p.RetrySlippageBps, p.UnwindMax = wp.RetryMax, wp.RetrySlippageBps, wp.UnwindMax
	p.UnwindSlippageBps, p.UnwindMaxLossBps, p.MaxResends = wp.UnwindSlippageBps, wp.UnwindMaxLossBps, wp.MaxResends
	durs := []struct {
		name string
		s    string
		dst  *time.Duration
	}{
		{"retry_window", wp.RetryWindow, &p.RetryWindow}, {"unwind_window", wp.UnwindWindow, &p.UnwindWindow},
		{"ack_timeout", wp.AckTimeout, &p.AckTimeout}, {"final_timeout", wp.FinalTimeout, &p.FinalTimeout},
		{"query_interval", wp.QueryInterval, &p.QueryInterval}, {"not_found_after", wp.NotFoundAfter, &p.NotFoundAfter},
		{"resend_window", wp.ResendWindow, &p.ResendWindow}, {"fill_timeout", wp.FillTimeout, &p.FillTimeout},
		{"deadline", wp.Deadline, &p.Deadline},
	}
	for _, d := range durs {
		if *d.dst, err = parseDur(d.name, d.s); err != nil {
			return err
		}
	}
	return p.Validate()
}

func parsePlanID(s string) (spread.PlanID, bool) {
	if len(s) != 17 || s[0] != 'p' {
		return 0, false
	}
	v, ok := parseHex(s[1:])
	return spread.PlanID(v), ok
}

func (c *Codec) unmarshalIntent(w *wireIntent, rec *Record) error {
	p, ok := purposeNamed(w.Purpose)
	if !ok {
		return fmt.Errorf("purpose %q", w.Purpose)
	}
	rec.Purpose = p
	switch w.Leg {
	case "buy":
		rec.Leg = LegBuy
	case "sell":
		rec.Leg = LegSell
	default:
		return fmt.Errorf("leg %q", w.Leg)
	}
	q := &rec.Req
	q.ClientID = rec.ClientID
	var err error
	if q.Venue, err = c.venue(w.Venue); err != nil {
		return err
	}
	var sc num.Scale
	if q.Inst, sc, err = c.inst(w.Instrument); err != nil {
		return err
	}
	if q.Side, err = parseSide(w.Side); err != nil {
		return err
	}
	if q.TIF, err = parseTIF(w.TIF); err != nil {
		return err
	}
	var v int64
	if v, err = parseNum("price", w.Price, sc.Px, false); err != nil || v <= 0 {
		return fmt.Errorf("price %q", w.Price)
	}
	q.Px = num.Price(v)
	if v, err = parseNum("qty", w.Qty, sc.Qty, false); err != nil || v <= 0 {
		return fmt.Errorf("qty %q", w.Qty)
	}
	q.Qty = num.Qty(v)
	return nil
}

func (c *Codec) unmarshalState(w *wireState, rec *Record) error {
	st, cid := &rec.State, rec.ClientID
	var err error
	if st.Venue, err = c.venue(w.Venue); err != nil {
		return err
	}
	var sc num.Scale
	if st.Inst, sc, err = c.inst(w.Instrument); err != nil {
		return err
	}
	if st.Side, err = parseSide(w.Side); err != nil {
		return err
	}
	if w.TIF != "" {
		if st.TIF, err = parseTIF(w.TIF); err != nil {
			return err
		}
	}
	if st.Status, err = parseStatus(w.Status); err != nil {
		return err
	}
	if st.ClientID, _ = exchange.MakeID(w.ClientID); st.ClientID != cid {
		return errors.New("state's client_order_id differs from the record's")
	}
	var ok bool
	if st.VenueOrderID, ok = exchange.MakeID(w.VenueOrderID); !ok {
		return errors.New("venue_order_id too long")
	}
	var v int64
	for _, f := range []struct {
		name, s string
		dec     uint8
		dst     *int64
	}{{"price", w.Price, sc.Px, (*int64)(&st.Px)}, {"qty", w.Qty, sc.Qty, (*int64)(&st.Qty)}, {"filled_qty", w.FilledQty, sc.Qty, (*int64)(&st.FilledQty)}} {
		if v, err = parseNum(f.name, f.s, f.dec, false); err != nil {
			return err
		}
		*f.dst = v
	}
	if st.FilledQuote, err = num.ParseAmountString(w.FilledQuote); err != nil {
		return fmt.Errorf("filled_quote %q", w.FilledQuote)
	}
	if w.TS != "" {
		if st.TS, err = parseTS(w.TS); err != nil {
			return fmt.Errorf("ts: %v", err)
		}
	}
	if w.Fee != "" {
		// Written only when positive, with its asset.
		if st.Fee, err = num.ParseAmountString(w.Fee); err != nil || st.Fee.V <= 0 {
			return fmt.Errorf("fee %q", w.Fee)
		}
		if st.FeeAsset, ok = exchange.MakeID(w.FeeAsset); !ok || st.FeeAsset.IsZero() {
			return fmt.Errorf("fee_asset %q", w.FeeAsset)
		}
		if w.FeeRate != "" {
			if rec.FeeRate, err = num.ParseAmountString(w.FeeRate); err != nil || rec.FeeRate.V < 0 {
				return fmt.Errorf("fee_rate %q", w.FeeRate)
			}
		}
	} else if w.FeeAsset != "" || w.FeeRate != "" {
		return errors.New("fee_asset or fee_rate without a fee")
	}
	return nil
}

func (c *Codec) unmarshalFill(w *wireFill, rec *Record) error {
	f := &rec.Fill
	var err error
	if f.Venue, err = c.venue(w.Venue); err != nil {
		return err
	}
	var sc num.Scale
	if f.Inst, sc, err = c.inst(w.Instrument); err != nil {
		return err
	}
	if f.Side, err = parseSide(w.Side); err != nil {
		return err
	}
	f.Maker = w.Maker
	var ok bool
	if f.TradeID, ok = exchange.MakeID(w.VenueFillID); !ok || f.TradeID.IsZero() {
		return fmt.Errorf("venue_fill_id %q", w.VenueFillID)
	}
	f.ClientID = rec.ClientID
	if w.ClientID != rec.ClientID.String() {
		return errors.New("fill's client_order_id differs from the record's")
	}
	if f.VenueOrderID, ok = exchange.MakeID(w.VenueOrderID); !ok {
		return errors.New("venue_order_id too long")
	}
	var v int64
	if v, err = parseNum("price", w.Price, sc.Px, false); err != nil || v <= 0 {
		return fmt.Errorf("price %q", w.Price)
	}
	f.Px = num.Price(v)
	if v, err = parseNum("qty", w.Qty, sc.Qty, false); err != nil || v <= 0 {
		return fmt.Errorf("qty %q", w.Qty)
	}
	f.Qty = num.Qty(v)
	if f.Fee, err = num.ParseAmountString(w.Fee); err != nil {
		return fmt.Errorf("fee %q", w.Fee)
	}
	if f.FeeAsset, ok = exchange.MakeID(w.FeeAsset); !ok {
		return errors.New("fee_asset too long")
	}
	if w.FeeRate != "" {
		if rec.FeeRate, err = num.ParseAmountString(w.FeeRate); err != nil || rec.FeeRate.V < 0 {
			return fmt.Errorf("fee_rate %q", w.FeeRate)
		}
	}
	if f.TS, err = parseTS(w.TS); err != nil {
		return fmt.Errorf("ts: %v", err)
	}
	return nil
}

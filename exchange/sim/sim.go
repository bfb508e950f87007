package sim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
)

// Sim is a set of simulated venues sharing one market model. Its methods are
// safe for concurrent use. Lifecycle: New → Start → … → Close; Step, Book,
// BookAt, Fills, Inject and FaultLog work before Start too (no network).
type Sim struct {
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	syms   []*symbol
	symIdx map[string]int

	mu     sync.Mutex // guards everything below and all venue state
	venues []*venue
	byName map[string]*venue
	stepN  uint64
	state  int // 0 new, 1 started, 2 closed

	stop chan struct{}
	wg   sync.WaitGroup
}

// venue is one simulated venue: its books, connections, orders and faults.
// All fields are guarded by Sim.mu unless noted.
type venue struct {
	s     *Sim
	cfg   VenueConfig
	books []*vbook          // by symbol index
	bySym map[string]*vbook // by the venue's own symbol (BTCUSDT, BTC-USDT)
	// byCode finds an OKX book by its instIdCode.
	byCode map[int64]*vbook
	feeE2  int64 // taker fee in hundredths of a bp
	// makerFeeE2 is the maker fee in hundredths of a bp.
	makerFeeE2 int64

	addr string // set by Start, then read-only
	ln   net.Listener
	srv  *http.Server

	conns    map[*conn]struct{}
	subs     map[string]map[*conn]struct{} // stream key → subscribers
	private  map[*conn]struct{}            // WebSocket API, private and order-entry connections
	connSeq  uint64
	slowCuts uint64
	// publicFrames counts the frames queued on market-data connections
	// (any goroutine).
	publicFrames atomic.Uint64

	faults   []Fault // pending stream faults, applied at the next step
	faultLog []FaultRecord
	rl       limitState  // FaultRateLimit
	ofx      orderFaults // order and acknowledgement faults

	orders orderState
	acct   *account
	reqs   []Request // the request log (Requests)
	reqSeq uint64    // requests ever logged

	weight    window             // Binance REQUEST_WEIGHT per minute
	orders10s window             // Binance ORDERS per 10 s
	ordersDay window             // Binance ORDERS per day
	limits    map[string]*window // OKX and Bybit per-endpoint limits
}

// URLs are the addresses of one simulated venue.
type URLs struct {
	// WS is the public market-data websocket endpoint as a venue config
	// would name it: ws://host:port/ws (Binance raw streams),
	// ws://host:port/ws/v5/public (OKX), ws://host:port/v5/public/spot (Bybit).
	WS string
	// WSBase is ws://host:port, for Binance adapters that build
	// /ws/<stream> or /stream?streams=… themselves.
	WSBase string
	// REST is http://host:port; the venues' REST paths hang below it.
	REST string
	// Private is the private (account) stream: Binance's WebSocket API
	// ws://host:port/ws-api/v3 (which also takes orders), OKX
	// ws://host:port/ws/v5/private (also orders), Bybit
	// ws://host:port/v5/private.
	Private string
	// Trade is WebSocket order entry where the venue keeps it apart:
	// Bybit ws://host:port/v5/trade; on Binance and OKX it is Private.
	Trade string
}

// New builds a simulator from cfg after validating it. Nothing listens until
// Start.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, now: cfg.Clock, log: cfg.Logger, symIdx: map[string]int{}, byName: map[string]*venue{}, stop: make(chan struct{})}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.cfg.Symbols = append([]SymbolConfig(nil), cfg.Symbols...)
	s.cfg.Venues = append([]VenueConfig(nil), cfg.Venues...)
	for i, sc := range s.cfg.Symbols {
		s.syms = append(s.syms, newSymbol(i, sc, cfg.Seed))
		s.symIdx[sc.Symbol] = i
	}
	for _, vc := range s.cfg.Venues {
		v := &venue{s: s, cfg: vc, bySym: map[string]*vbook{}, byCode: map[int64]*vbook{}, conns: map[*conn]struct{}{}, private: map[*conn]struct{}{},
			subs: map[string]map[*conn]struct{}{}, feeE2: int64(vc.FeeBps*100 + 0.5), makerFeeE2: int64(vc.MakerFeeBps*100 + 0.5),
			limits: map[string]*window{}}
		v.orders.init(cfg.MaxOrders, cfg.Seed, vc.Name)
		v.acct = newAccount(vc.Balances, s.syms, s.now())
		for _, sym := range s.syms {
			vb := newVBook(v, sym, cfg.Seed, cfg.HistoryLen, cfg.HistoryDepth)
			v.books = append(v.books, vb)
			v.bySym[v.symbolName(sym)] = vb
			v.initViews(vb)
		}
		s.venues = append(s.venues, v)
		s.byName[vc.Name] = v
	}
	return s, nil
}

// Start opens every venue's listener and, unless ManualStep, starts the
// market ticker. It returns the first listen error (closing what it opened).
func (s *Sim) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return errors.New("sim: Start called twice or after Close")
	}
	for _, v := range s.venues {
		ln, err := net.Listen("tcp", v.cfg.Listen)
		if err != nil {
			for _, o := range s.venues {
				if o.ln != nil {
					o.ln.Close()
				}
			}
			return fmt.Errorf("sim: venue %s: listen %s: %w", v.cfg.Name, v.cfg.Listen, err)
		}
		v.ln = ln
		v.addr = ln.Addr().String()
		v.srv = &http.Server{Handler: v.handler(), ReadHeaderTimeout: 5 * time.Second,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	}
	for _, v := range s.venues {
		s.wg.Add(1)
		go func(v *venue) {
			defer s.wg.Done()
			if err := v.srv.Serve(v.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("sim: serve", "venue", v.cfg.Name, "err", err)
			}
		}(v)
	}
	if !s.cfg.ManualStep {
		s.wg.Add(1)
		go s.run()
	}
	s.state = 1
	return nil
}

func (s *Sim) run() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.StepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Step()
		}
	}
}

// Close stops the market, closes every connection and listener and waits for
// the simulator's goroutines. It is idempotent.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.state == 2 {
		s.mu.Unlock()
		return nil
	}
	started := s.state == 1
	s.state = 2
	close(s.stop)
	var conns []*conn
	for _, v := range s.venues {
		for c := range v.conns {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	var err error
	if started {
		for _, v := range s.venues {
			err = errors.Join(err, v.srv.Close())
		}
	}
	s.wg.Wait()
	return err
}

// Step advances the market by one step: the shared prices move, then every
// venue's books in configuration order, each publishing at most one update.
// The ticker calls it; with ManualStep only tests do.
func (s *Sim) Step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == 2 {
		return
	}
	s.stepN++
	for _, sym := range s.syms {
		sym.advance()
	}
	now := s.now()
	for _, v := range s.venues {
		s.stepVenue(v, now)
	}
}

func (s *Sim) stepVenue(v *venue, now time.Time) {
	for _, vb := range v.books {
		changed := vb.step(&s.cfg.Dislocation, &s.cfg.Quiet)
		v.publish(vb, changed, now)
		v.matchResting(vb, now)
	}
	v.faults = slices.DeleteFunc(v.faults, func(f Fault) bool { return f.applied })
}

// StepPrices is the first half of Step: the shared prices move, and no
// venue publishes. With StepVenue for each venue after it, a test makes
// one market step whose venues' updates it can space out (a client then
// receives them in a known order: they never race).
func (s *Sim) StepPrices() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == 2 {
		return
	}
	s.stepN++
	for _, sym := range s.syms {
		sym.advance()
	}
}

// StepVenue is the second half of Step for one venue: its books take
// their step toward the shared prices, each publishing at most one
// update.
func (s *Sim) StepVenue(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.byName[name]
	if v == nil {
		return fmt.Errorf("sim: unknown venue %q", name)
	}
	if s.state != 2 {
		s.stepVenue(v, s.now())
	}
	return nil
}

// Venues returns the configured venue names in order.
func (s *Sim) Venues() []string {
	out := make([]string, len(s.venues))
	for i, v := range s.venues {
		out[i] = v.cfg.Name
	}
	return out
}

// Addr returns the venue's listen address (host:port) once started, or "".
func (s *Sim) Addr(venue string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.byName[venue]; v != nil {
		return v.addr
	}
	return ""
}

// URLs returns the venue's endpoints once started; false for an unknown
// venue or before Start.
func (s *Sim) URLs(venue string) (URLs, bool) {
	addr := s.Addr(venue)
	if addr == "" {
		return URLs{}, false
	}
	v := s.byName[venue]
	u := URLs{WSBase: "ws://" + addr, REST: "http://" + addr}
	switch v.cfg.Kind {
	case KindBinance:
		u.WS = u.WSBase + "/ws"
		u.Private = u.WSBase + "/ws-api/v3"
		u.Trade = u.Private
	case KindOKX:
		u.WS = u.WSBase + "/ws/v5/public"
		u.Private = u.WSBase + "/ws/v5/private"
		u.Trade = u.Private
	case KindBybit:
		u.WS = u.WSBase + "/v5/public/spot"
		u.Private = u.WSBase + "/v5/private"
		u.Trade = u.WSBase + "/v5/trade"
	}
	return u, true
}

// VenueSymbol returns the venue's own name of a canonical symbol
// ("BTC-USDT" → "BTCUSDT" on Binance and Bybit, "BTC-USDT" on OKX).
func (s *Sim) VenueSymbol(venue, canonical string) (string, bool) {
	v := s.byName[venue]
	i, ok := s.symIdx[canonical]
	if v == nil || !ok {
		return "", false
	}
	return v.symbolName(s.syms[i]), true
}

func (v *venue) symbolName(sym *symbol) string {
	if v.cfg.Kind == KindOKX {
		return sym.cfg.Symbol
	}
	return sym.base + sym.quote
}

func (s *Sim) book(venue, canonical string) (*venue, *vbook, error) {
	v := s.byName[venue]
	if v == nil {
		return nil, nil, fmt.Errorf("sim: unknown venue %q", venue)
	}
	i, ok := s.symIdx[canonical]
	if !ok {
		return nil, nil, fmt.Errorf("sim: unknown symbol %q", canonical)
	}
	return v, v.books[i], nil
}

// Book returns the venue's current book for a canonical symbol (every level,
// best first, in the symbol's scale) and the sequence field of the last
// published state (as BookAt keys it: Binance u, OKX seqId, Bybit seq). The
// two differ only when a fill consumed liquidity since that state; the next
// update publishes the change.
func (s *Sim) Book(venue, symbol string) (bids, asks []exchange.Level, seq uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, vb, err := s.book(venue, symbol)
	if err != nil {
		return nil, nil, 0, false
	}
	return toLevels(vb.live.bids.l), toLevels(vb.live.asks.l), vb.seq, true
}

// BookAt returns the top HistoryDepth levels per side (best first, in the
// symbol's scale) of the published state whose sequence field is seq — the
// venue's own sequence field: Binance u / lastUpdateId, OKX seqId, Bybit seq
// (the cross sequence, shared by every depth; not u, which each Bybit topic
// counts for itself). States older than HistoryLen steps are gone (ok
// false). Every venue's field strictly increases per state, so a value names
// one state.
func (s *Sim) BookAt(venue, symbol string, seq uint64) (bids, asks []exchange.Level, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, vb, err := s.book(venue, symbol)
	if err != nil {
		return nil, nil, false
	}
	return vb.hist.at(seq)
}

// Seq returns the sequence field of the venue's last published state (as
// BookAt keys it: Binance u, OKX seqId, Bybit seq).
func (s *Sim) Seq(venue, symbol string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, vb, err := s.book(venue, symbol)
	if err != nil {
		return 0, false
	}
	return vb.seq, true
}

// SlowCuts returns how many websocket connections of the venue were cut
// because their outgoing queue was full.
func (s *Sim) SlowCuts(venue string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.byName[venue]; v != nil {
		return v.slowCuts
	}
	return 0
}

// PublicFrames returns how many frames the venue has queued on its
// market-data (public) websocket connections: book updates, subscription
// answers, pongs. A test that records what a client read (exchange/tap)
// compares it with this to know that nothing is still on its way.
func (s *Sim) PublicFrames(venue string) uint64 {
	s.mu.Lock()
	v := s.byName[venue]
	s.mu.Unlock()
	if v == nil {
		return 0
	}
	return v.publicFrames.Load()
}

// Conns returns the number of open websocket connections of the venue.
func (s *Sim) Conns(venue string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.byName[venue]; v != nil {
		return len(v.conns)
	}
	return 0
}

// handler routes a venue's websocket and REST paths.
func (v *venue) handler() http.Handler {
	mux := http.NewServeMux()
	switch v.cfg.Kind {
	case KindBinance:
		mux.HandleFunc("/ws", v.serveWS)
		mux.HandleFunc("/ws/", v.serveWS)
		mux.HandleFunc("/stream", v.serveWS)
		mux.HandleFunc("/ws-api/v3", v.serveRole(roleWSAPI))
		v.binanceREST(mux)
	case KindOKX:
		mux.HandleFunc("/ws/v5/public", v.serveWS)
		mux.HandleFunc("/ws/v5/private", v.serveRole(rolePrivate))
		v.okxREST(mux)
	case KindBybit:
		mux.HandleFunc("/v5/public/spot", v.serveWS)
		mux.HandleFunc("/v5/private", v.serveRole(rolePrivate))
		mux.HandleFunc("/v5/trade", v.serveRole(roleTrade))
		v.bybitREST(mux)
	}
	return mux
}

// venueSymbolOf returns the book for the venue's own symbol name (exact).
func (v *venue) venueSymbolOf(name string) *vbook {
	return v.bySym[name]
}

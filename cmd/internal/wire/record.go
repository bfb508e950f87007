package wire

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/recording"
	"arb/exchange/sim"
	"arb/exchange/tap"
	"arb/ringbuf"
)

// RecordMeta describes cfg's venues for a recording's files: names,
// kinds, channels, depths and instruments with their venue symbols, by
// the venue ids the feeds publish (config order, from 1).
func RecordMeta(cfg *config.Config) recording.Meta {
	m := recording.Meta{}
	for i, v := range cfg.Venues {
		vm := recording.VenueMeta{ID: uint8(i + 1), Name: v.Name, Kind: v.Kind, Channel: v.Channel, Depth: v.Depth, AgeMax: recording.Duration(v.AgeMax)}
		for _, in := range cfg.Instruments {
			if sym, ok := v.Symbols[in.Symbol]; ok {
				sc := in.Scale()
				vm.Instruments = append(vm.Instruments, recording.InstrumentMeta{Canonical: in.Symbol, Symbol: sym, PxDecimals: sc.Px, QtyDecimals: sc.Qty})
			}
		}
		m.Venues = append(m.Venues, vm)
	}
	return m
}

// tapper is what a feed offers a recorder.
type tapper interface{ SetTap(*tap.Venue) }

// tapTransport records every reply it carries (the instruments endpoint
// at start-up) as a tap.KindREST record of its venue.
type tapTransport struct {
	venue *tap.Venue
	base  http.RoundTripper
}

func (t *tapTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	t.venue.REST(time.Now().UnixNano(), resp.StatusCode, req.URL.String(), body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// tappedClient returns a client for venue i's instruments fetch that
// records the replies into sink (hc itself when sink is nil).
func tappedClient(hc *http.Client, sink tap.Sink, i int) *http.Client {
	if sink == nil {
		return hc
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := *hc
	c.Transport = &tapTransport{venue: tap.New(sink, exchange.VenueID(i+1)), base: base}
	return &c
}

// setTaps attaches sink to every feed (nothing when sink is nil).
func setTaps(feeds []feedEntry, sink tap.Sink) error {
	if sink == nil {
		return nil
	}
	for _, f := range feeds {
		t, ok := f.md.(tapper)
		if !ok {
			return fmt.Errorf("venue %s: its feed cannot be recorded", f.name)
		}
		t.SetTap(tap.New(sink, f.id))
	}
	return nil
}

// Feeds is the market-data half of the daemon, for arb record: the
// simulator when the config names it, the listings, and one feed per
// venue with its tap, publishing into a ring that Run drains.
type Feeds struct {
	sim   *sim.Sim
	ring  *ringbuf.MPSC[exchange.BookTop]
	feeds []feedEntry
	mu    sync.Mutex
	books map[[2]int]exchange.BookTop
	// OnEvent, if set before Run, sees every event Run drains (tests
	// compare the live feeds' events with a replay's).
	OnEvent func(*exchange.BookTop)
}

// StartFeeds builds the feeds of cfg's venues with sink attached (the
// instruments replies go to it too). tune adjusts the simulator.
func StartFeeds(ctx context.Context, cfg *config.Config, sink tap.Sink, tune func(*sim.Config), logger *slog.Logger) (*Feeds, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, v := range cfg.Venues {
		if v.Kind == config.KindUniswap {
			return nil, fmt.Errorf("venue %s: on-chain pools (kind %s) are not recorded; remove the venue from the config to record the others", v.Name, v.Kind)
		}
	}
	f := &Feeds{books: map[[2]int]exchange.BookTop{}}
	reg := registry(cfg)
	var err error
	if f.sim, err = startSim(cfg, logger, tune); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	urls := make([][2]string, len(cfg.Venues))
	listings := make([][]exchange.Instrument, len(cfg.Venues))
	for i, v := range cfg.Venues {
		u, err := resolveURLs(v, f.sim)
		ws, rest := u.ws, u.rest
		if err != nil {
			f.Close()
			return nil, err
		}
		urls[i] = [2]string{ws, rest}
		if listings[i], err = listingsOf(ctx, reg, i, v, rest, tappedClient(hc, sink, i)); err != nil {
			f.Close()
			return nil, err
		}
	}
	f.ring = ringbuf.NewMPSC[exchange.BookTop](RingCapacity)
	for i, v := range cfg.Venues {
		md, err := kinds[v.Kind].newFeed(feedSetup{
			venue: exchange.VenueID(i + 1), name: v.Name, wsURL: urls[i][0], restURL: urls[i][1],
			instruments: listings[i], channel: v.Channel, depth: v.Depth, ageMax: v.AgeMax, ring: f.ring,
			logger: logger, now: func() int64 { return time.Now().UnixNano() },
			rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i+1))), http: hc,
		})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("venue %s: %w", v.Name, err)
		}
		f.feeds = append(f.feeds, feedEntry{name: v.Name, kind: v.Kind, id: exchange.VenueID(i + 1), md: md, listings: listings[i]})
	}
	if err := setTaps(f.feeds, sink); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Run runs the feeds and drains their ring until ctx ends.
func (f *Feeds) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, e := range f.feeds {
		wg.Add(1)
		go func() { defer wg.Done(); _ = e.md.Run(ctx) }()
	}
	var ev exchange.BookTop
	for ctx.Err() == nil {
		if !f.ring.TryPop(&ev) {
			f.ring.Wait(ctx, 50*time.Millisecond)
			continue
		}
		f.mu.Lock()
		f.books[[2]int{int(ev.Venue), int(ev.Inst)}] = ev
		f.mu.Unlock()
		if f.OnEvent != nil {
			f.OnEvent(&ev)
		}
	}
	wg.Wait()
	for f.ring.TryPop(&ev) { // what the feeds published while stopping
		if f.OnEvent != nil {
			f.OnEvent(&ev)
		}
	}
	return nil
}

// FeedStatus is one venue's feed as arb record's progress line shows it.
type FeedStatus struct {
	Name     string
	Stats    *exchange.FeedStats
	Fresh    int // books fresh at their last event
	Books    int
	Messages uint64
}

// Status returns each feed's counters.
func (f *Feeds) Status() []FeedStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FeedStatus, len(f.feeds))
	for i, e := range f.feeds {
		s := FeedStatus{Name: e.name, Stats: e.md.Stats(), Books: len(e.listings), Messages: e.md.Stats().Messages.Load()}
		for k, b := range f.books {
			if k[0] == int(e.id) && !b.Stale() {
				s.Fresh++
			}
		}
		out[i] = s
	}
	return out
}

// Sim returns the in-process simulator, or nil.
func (f *Feeds) Sim() *sim.Sim { return f.sim }

// Close stops the simulator.
func (f *Feeds) Close() {
	if f.sim != nil {
		f.sim.Close()
		f.sim = nil
	}
}

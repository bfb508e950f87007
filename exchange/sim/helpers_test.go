package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"

	"github.com/gorilla/websocket"
)

// testConfig is DefaultConfig with manual stepping (what is sent depends only
// on the steps a test takes), no quiet periods, and 60 levels per side so
// that depth-limited channels (Bybit 50) differ from the full book.
func testConfig() Config {
	c := DefaultConfig()
	c.ManualStep = true
	c.Quiet.Prob = 0
	c.Dislocation.Prob = 0.01
	for i := range c.Venues {
		c.Venues[i].Levels = 60
		// Deep pockets: tests of matching must not run into the balance
		// check (balance tests set their own).
		c.Venues[i].Balances = map[string]string{"USDT": "100000000", "BTC": "1000", "ETH": "10000", "SOL": "1000000"}
	}
	return c
}

// withoutKeys returns a JSON document with the named keys removed from
// every object in it (fields the simulator sends beyond a documented
// example, such as OKX's instIdCode, which the 2026 changelog added).
func withoutKeys(t testing.TB, doc []byte, keys ...string) []byte {
	t.Helper()
	var x any
	if err := json.Unmarshal(doc, &x); err != nil {
		t.Fatalf("not JSON: %v: %s", err, doc)
	}
	var strip func(any)
	strip = func(x any) {
		switch v := x.(type) {
		case map[string]any:
			for _, k := range keys {
				delete(v, k)
			}
			for _, e := range v {
				strip(e)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(x)
	out, _ := json.Marshal(x)
	return out
}

func newSim(t testing.TB, mutate func(*Config)) *Sim {
	t.Helper()
	c := testConfig()
	if mutate != nil {
		mutate(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustURLs(t testing.TB, s *Sim, venue string) URLs {
	t.Helper()
	u, ok := s.URLs(venue)
	if !ok {
		t.Fatalf("no URLs for %s", venue)
	}
	return u
}

// wsClient is a raw gorilla client whose frames arrive on a channel, so a
// test can wait with timeouts without corrupting the connection.
type wsClient struct {
	t      testing.TB
	c      *websocket.Conn
	msgs   chan []byte
	closed chan struct{}
	back   [][]byte // frames read ahead by reply and not yet consumed
}

func dial(t testing.TB, url string) *wsClient {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	w := &wsClient{t: t, c: c, msgs: make(chan []byte, 1<<16), closed: make(chan struct{})}
	go func() {
		defer close(w.closed)
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			w.msgs <- m
		}
	}()
	t.Cleanup(func() { c.Close() })
	return w
}

func (w *wsClient) sendText(s string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		w.t.Fatal(err)
	}
}

// patience is the least any wait for a frame the simulator must send is
// given before the test fails: the waits return as soon as the frame comes,
// and a loaded 2-core machine running the race detector can stall the
// simulator's writer or the client's reader for seconds.
const patience = 20 * time.Second

// next returns the next frame or fails after d (at least patience).
func (w *wsClient) next(d time.Duration) []byte {
	w.t.Helper()
	d = max(d, patience)
	if len(w.back) > 0 {
		m := w.back[0]
		w.back = w.back[1:]
		return m
	}
	select {
	case m := <-w.msgs:
		return m
	case <-time.After(d):
		w.t.Fatalf("no frame within %v", d)
		return nil
	}
}

// drain returns the frames that arrive until none comes for idle. It does
// not wait for anything in particular: use it only to look for frames that
// must not come (a loaded machine can only hide them), and flush to collect
// the frames the venue sent.
func (w *wsClient) drain(idle time.Duration) [][]byte {
	out := w.back
	w.back = nil
	for {
		select {
		case m := <-w.msgs:
			out = append(out, m)
		case <-time.After(idle):
			return out
		}
	}
}

// bybitFlush returns every frame a Bybit connection was sent before now:
// a ping is answered on the same queue after everything already queued
// (steps and control messages are handled under the simulator's lock), so
// the frames read before its pong are exactly those. It waits on the pong,
// not on a quiet period, so it holds on a loaded machine.
func bybitFlush(w *wsClient) [][]byte {
	w.t.Helper()
	w.sendText(`{"op":"ping","req_id":"flush"}`)
	var out [][]byte
	for {
		m := w.next(patience)
		if bytes.Contains(m, []byte(`"req_id":"flush"`)) && bytes.Contains(m, []byte(`"op":"ping"`)) {
			return out
		}
		out = append(out, m)
	}
}

// flush returns every frame the venue (kind) queued for this public
// market-data connection before now, and makes sure every request sent
// before it was handled: it sends a request whose answer the venue queues
// behind them — a ping on OKX and Bybit, LIST_SUBSCRIPTIONS on Binance;
// requests and steps are handled under the simulator's lock, on one queue
// per connection — and returns the frames before that answer. It waits on
// the answer, not on a quiet period, so it holds on a loaded machine.
func (w *wsClient) flush(kind string) [][]byte {
	w.t.Helper()
	switch kind {
	case KindBybit:
		return bybitFlush(w)
	case KindOKX:
		w.sendText("ping")
	default:
		w.sendText(`{"method":"LIST_SUBSCRIPTIONS","id":424242}`)
	}
	var out [][]byte
	for {
		m := w.next(patience)
		if kind == KindOKX && string(m) == "pong" || kind != KindOKX && bytes.Contains(m, []byte(`"id":424242`)) && bytes.Contains(m, []byte(`"result"`)) {
			return out
		}
		out = append(out, m)
	}
}

// waitClosed reports whether the server closed the connection within d.
func (w *wsClient) waitClosed(d time.Duration) bool {
	select {
	case <-w.closed:
		return true
	case <-time.After(d):
		return false
	}
}

// reply reads frames until pred accepts one (returned) or d passes, keeping
// the frames it passes over for later reads (events that arrive before a
// request's answer).
func (w *wsClient) reply(d time.Duration, pred func([]byte) bool) []byte {
	w.t.Helper()
	d = max(d, patience)
	var skipped [][]byte
	for i, m := range w.back {
		if pred(m) {
			w.back = append(w.back[:i:i], w.back[i+1:]...)
			return m
		}
	}
	deadline := time.After(d)
	for {
		select {
		case m := <-w.msgs:
			if pred(m) {
				w.back = append(w.back, skipped...)
				return m
			}
			skipped = append(skipped, m)
		case <-deadline:
			w.t.Fatalf("no matching frame within %v", d)
			return nil
		}
	}
}

// isClosed reports whether the server has closed the connection already.
func (w *wsClient) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// until reads frames until pred accepts one (returned) or d passes.
func (w *wsClient) until(d time.Duration, pred func([]byte) bool) []byte {
	w.t.Helper()
	d = max(d, patience)
	for len(w.back) > 0 {
		m := w.back[0]
		w.back = w.back[1:]
		if pred(m) {
			return m
		}
	}
	deadline := time.After(d)
	for {
		select {
		case m := <-w.msgs:
			if pred(m) {
				return m
			}
		case <-deadline:
			w.t.Fatalf("no matching frame within %v", d)
			return nil
		}
	}
}

func loadPayload(t testing.TB, rel string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Payload == nil {
		t.Fatalf("%s: no payload: %v", rel, err)
	}
	return f.Payload
}

func loadJSON(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// shapeDiff compares the JSON shape of got with want: the same object keys
// (exact, case-sensitive) and the same JSON types, recursively; each element
// of an array is compared with want's first element. An empty want object or
// array, or a null, matches anything; optional names keys want may have and
// got may lack.
func shapeDiff(got, want []byte, optional ...string) error {
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("got is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return fmt.Errorf("want is not JSON: %v", err)
	}
	opt := map[string]bool{}
	for _, o := range optional {
		opt[o] = true
	}
	return shapeOf("$", g, w, opt)
}

func shapeOf(path string, g, w any, opt map[string]bool) error {
	if w == nil {
		return nil
	}
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want object", path, g)
		}
		if len(wv) == 0 {
			return nil
		}
		for k := range gv {
			if _, ok := wv[k]; !ok {
				return fmt.Errorf("%s: unexpected key %q", path, k)
			}
		}
		keys := make([]string, 0, len(wv))
		for k := range wv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gk, ok := gv[k]
			if !ok {
				if opt[k] {
					continue
				}
				return fmt.Errorf("%s: missing key %q", path, k)
			}
			if err := shapeOf(path+"."+k, gk, wv[k], opt); err != nil {
				return err
			}
		}
	case []any:
		gv, ok := g.([]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want array", path, g)
		}
		if len(wv) == 0 {
			return nil
		}
		for i, e := range gv {
			if err := shapeOf(fmt.Sprintf("%s[%d]", path, i), e, wv[0], opt); err != nil {
				return err
			}
		}
	default:
		if fmt.Sprintf("%T", g) != fmt.Sprintf("%T", w) {
			return fmt.Errorf("%s: got %T (%v), want %T", path, g, g, w)
		}
	}
	return nil
}

// refBook is the tests' obviously-right book: maps from the price (parsed in
// the symbol's scale, so "60000.10000000" and "60000.1" are one level) to the
// price and size strings as received.
type refBook struct{ bids, asks map[int64][2]string }

func newRef() *refBook { return &refBook{bids: map[int64][2]string{}, asks: map[int64][2]string{}} }

func isZero(s string) bool { return strings.Trim(s, "0.") == "" }

// apply sets levels; a zero size deletes.
func (r *refBook) apply(t testing.TB, scale num.Scale, bids, asks [][]string) {
	t.Helper()
	for _, side := range []struct {
		m  map[int64][2]string
		ls [][]string
	}{{r.bids, bids}, {r.asks, asks}} {
		for _, l := range side.ls {
			px, err := num.ParseString(l[0], scale.Px)
			if err != nil {
				t.Fatalf("price %q: %v", l[0], err)
			}
			if isZero(l[1]) {
				delete(side.m, px)
			} else {
				side.m[px] = [2]string{l[0], l[1]}
			}
		}
	}
}

// sorted returns the prices of one side, best first.
func sortedPx(m map[int64][2]string, desc bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if desc {
			return out[i] > out[j]
		}
		return out[i] < out[j]
	})
	return out
}

// levels returns the top n levels per side, best first.
func (r *refBook) levels(t testing.TB, scale num.Scale, n int) (bids, asks []exchange.Level) {
	conv := func(m map[int64][2]string, desc bool) []exchange.Level {
		var out []exchange.Level
		for _, px := range sortedPx(m, desc) {
			if len(out) == n {
				break
			}
			qty, err := num.ParseString(m[px][1], scale.Qty)
			if err != nil {
				t.Fatalf("qty %q: %v", m[px][1], err)
			}
			out = append(out, exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)})
		}
		return out
	}
	return conv(r.bids, true), conv(r.asks, false)
}

// checkString is OKX's documented check string over the received strings.
func (r *refBook) checkString() string {
	b, a := sortedPx(r.bids, true), sortedPx(r.asks, false)
	var parts []string
	for i := 0; i < 25; i++ {
		if i < len(b) {
			parts = append(parts, r.bids[b[i]][0], r.bids[b[i]][1])
		}
		if i < len(a) {
			parts = append(parts, r.asks[a[i]][0], r.asks[a[i]][1])
		}
	}
	return strings.Join(parts, ":")
}

func (r *refBook) crossed(t testing.TB, scale num.Scale) bool {
	b, a := r.levels(t, scale, 1)
	return len(b) > 0 && len(a) > 0 && b[0].Px >= a[0].Px
}

func levelsEqual(a, b []exchange.Level) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkAt compares the reference's top 25 with the simulator's state at seq.
func checkAt(t testing.TB, s *Sim, venue, sym string, seq uint64, r *refBook, scale num.Scale) {
	t.Helper()
	wb, wa, ok := s.BookAt(venue, sym, seq)
	if !ok {
		t.Fatalf("%s %s: no state at seq %d", venue, sym, seq)
	}
	gb, ga := r.levels(t, scale, 25)
	if !levelsEqual(gb, wb) || !levelsEqual(ga, wa) {
		t.Fatalf("%s %s seq %d: reconstructed book differs\n bids got %v\n want %v\n asks got %v\n want %v", venue, sym, seq, gb, wb, ga, wa)
	}
}

func httpGet(t testing.TB, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func httpDo(t testing.TB, method, url string, hdr map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func steps(s *Sim, n int) {
	for range n {
		s.Step()
	}
}

func scaleOf(s *Sim, sym string) num.Scale { return s.syms[s.symIdx[sym]].scale }

// waitSubscribed waits until n connections of the venue subscribe to key
// (a subscription in the URL is registered just after the handshake).
func waitSubscribed(t testing.TB, s *Sim, venue, key string, n int) {
	t.Helper()
	v := s.byName[venue]
	deadline := time.Now().Add(patience)
	for {
		s.mu.Lock()
		got := len(v.subs[key])
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d subscribers of %s, want %d", venue, got, key, n)
		}
		time.Sleep(time.Millisecond)
	}
}

package sim

import (
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// privateStream opens a venue's private stream the documented way and
// returns it subscribed to order events, with the venue's ping and a
// predicate recognising its answer.
func privateStream(t testing.TB, s *Sim, venue string) (c *wsClient, ping string, isPong func([]byte) bool) {
	t.Helper()
	c, ping, isPong = openPrivate(t, s, venue)
	// Everything the setup sent (acks, connection counts) is read and
	// dropped: a ping's answer comes after it.
	c.sendText(ping)
	c.reply(10*time.Second, isPong)
	c.back = nil
	return c, ping, isPong
}

func openPrivate(t testing.TB, s *Sim, venue string) (c *wsClient, ping string, isPong func([]byte) bool) {
	t.Helper()
	switch venue {
	case "binance":
		c = dial(t, mustURLs(t, s, venue).Private)
		if r := wsapiCall(t, c, "sub", "userDataStream.subscribe.signature", wsapiSign(t, signedNow(s), TestBinanceSecret, "")); r["status"] != float64(200) {
			t.Fatalf("subscribe: %v", r)
		}
		return c, `{"id":"png","method":"ping"}`, func(m []byte) bool { return strings.Contains(string(m), `"id":"png"`) }
	case "okx":
		return okxPrivate(t, s), "ping", func(m []byte) bool { return string(m) == "pong" }
	default:
		return bybitPrivate(t, s, "order", "execution"), `{"op":"ping"}`, func(m []byte) bool { return strings.Contains(string(m), `"op":"pong"`) }
	}
}

// TestPrivateStreamDrop: a private stream cut when an order is accepted
// never sees that order's events; a new connection gets nothing replayed
// (the venues document none); the REST fills endpoint has the fill, which
// is how a client recovers it — exactly once.
func TestPrivateStreamDrop(t *testing.T) {
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, _ := tradeSim(t, nil, nil)
			c, _, _ := privateStream(t, s, venue)
			sc := scaleOf(s, "BTC-USDT")
			_, asks, _, _ := s.Book(venue, "BTC-USDT")
			if err := s.Inject(venue, Fault{Kind: FaultStreamDrop, NextOrder: true}); err != nil {
				t.Fatal(err)
			}
			if id, raw := placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[0].Px), sc.Px), "0.0010", "drop1", "IOC"); id == "" {
				t.Fatalf("refused: %s", raw)
			}
			if !c.waitClosed(10 * time.Second) {
				t.Fatal("the private stream was not cut")
			}
			for _, m := range c.drain(0) {
				if strings.Contains(string(m), "drop1") {
					t.Fatalf("an event of the order reached the cut stream: %s", m)
				}
			}
			c2, ping, isPong := privateStream(t, s, venue)
			c2.sendText(ping)
			for {
				m := c2.next(10 * time.Second)
				if strings.Contains(string(m), "drop1") {
					t.Fatalf("replayed after reconnect: %s", m)
				}
				if isPong(m) {
					break
				}
			}
			if len(s.Fills(venue)) != 1 {
				t.Fatalf("%d fills", len(s.Fills(venue)))
			}
			checkFillsEndpoint(t, s, venue)
			// The new stream carries the next order.
			placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[1].Px), sc.Px), "0.0010", "next1", "IOC")
			c2.until(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), "next1") })
			// A drop at once cuts the streams now, and only the private ones.
			pub := dial(t, mustURLs(t, s, venue).WS)
			waitConns(t, s, venue, 2)
			s.Inject(venue, Fault{Kind: FaultStreamDrop})
			if !c2.waitClosed(10*time.Second) || pub.isClosed() {
				t.Fatal("FaultStreamDrop: private not cut, or public cut")
			}
		})
	}
}

// waitConns waits until the venue has n websocket connections.
func waitConns(t testing.TB, s *Sim, venue string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "connections", func() bool { return s.Conns(venue) >= n })
}

// TestPrivateStreamSilent: a silent private stream stays open and sends
// nothing — no events, no pong — while a stream opened after the fault
// works; when the silence ends the first one answers again.
func TestPrivateStreamSilent(t *testing.T) {
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, clk := tradeSim(t, nil, nil)
			quiet, ping, isPong := privateStream(t, s, venue)
			if err := s.Inject(venue, Fault{Kind: FaultStreamSilent, Duration: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			ref, _, _ := privateStream(t, s, venue)
			sc := scaleOf(s, "BTC-USDT")
			_, asks, _, _ := s.Book(venue, "BTC-USDT")
			placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[0].Px), sc.Px), "0.0010", "quiet1", "IOC")
			quiet.sendText(ping)
			ref.until(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), "quiet1") })
			if got := quiet.drain(100 * time.Millisecond); len(got) != 0 || quiet.isClosed() {
				t.Fatalf("the silent stream sent %d frames (or closed)", len(got))
			}
			clk.Add(10 * time.Second)
			quiet.sendText(ping)
			if m := quiet.reply(10*time.Second, isPong); m == nil {
				t.Fatal("no pong after the silence")
			}
		})
	}
}

package binance

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestPongCopiesPayload: the server's ping is answered by the feed's reader
// with a pong carrying the same payload, as Binance requires (no pong within
// a minute closes the connection); the subscription is in the URL, and the
// feed sends nothing else.
func TestPongCopiesPayload(t *testing.T) {
	pongs := make(chan string, 4)
	texts := make(chan string, 4)
	paths := make(chan string, 4)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/stream") {
			http.Error(w, "no snapshots here", http.StatusServiceUnavailable)
			return
		}
		paths <- r.URL.RequestURI()
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetPongHandler(func(s string) error { pongs <- s; return nil })
		c.WriteControl(websocket.PingMessage, []byte("1700000000123"), time.Now().Add(time.Second))
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if mt == websocket.TextMessage {
				texts <- string(b)
			}
		}
	}))
	defer srv.Close()
	cfg := baseConfig("", 0, testInst("BTCUSDT", 1, 2, 5))
	cfg.WSURL = "ws" + strings.TrimPrefix(srv.URL, "http")
	cfg.RESTURL = srv.URL
	cfg.AgeMax = time.Minute
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case p := <-pongs:
		if p != "1700000000123" {
			t.Fatalf("pong payload %q", p)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no pong")
	}
	if p := <-paths; p != "/stream?streams=btcusdt@depth@100ms" {
		t.Fatalf("path %s", p)
	}
	select {
	case m := <-texts:
		t.Fatalf("the feed sent a message: %s", m)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if err := f.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

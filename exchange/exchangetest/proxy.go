package exchangetest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy is a loopback TCP forwarder between the adapter and the simulated
// venue. It changes nothing on the wire; it exists to count the websocket
// connections the adapter opens (the simulator does not say), which is how
// the suite sees a scheduled handover or a reconnect happen. A connection is
// a websocket one when its first request carries "Upgrade: websocket".
type proxy struct {
	ln     net.Listener
	target string

	wsDials   atomic.Int64 // websocket connections opened through the proxy
	restConns atomic.Int64 // other (REST) connections
	refused   atomic.Int64 // connections refused over maxProxyConns
	wsOpen    atomic.Int64 // websocket connections open now
	wsPeak    atomic.Int64 // most websocket connections open at once

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Limits of the proxy: every connection and header read is bounded.
const (
	maxProxyConns   = 64              // concurrent client connections
	maxRequestHead  = 16 << 10        // bytes of request line and headers
	headReadTimeout = 5 * time.Second // to read the first request's head
	upstreamTimeout = 2 * time.Second // to connect to the simulator
	maxHeaderLines  = 128             // header lines of the first request
	proxyCopyBuffer = 64 << 10        // per direction
)

var errHeadTooLarge = errors.New("exchangetest: request head too large")

// newProxy listens on a free loopback port and forwards to target.
func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for the
// forwarding goroutines.
func (p *proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.conns) >= 2*maxProxyConns {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			p.refused.Add(1)
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve forwards one client connection until either side closes it, and
// then closes both, so that the simulator dropping a connection reaches the
// adapter as a dropped connection.
func (p *proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	c.SetReadDeadline(time.Now().Add(headReadTimeout))
	br := bufio.NewReaderSize(c, 4096)
	head, ws, err := readHead(br)
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	if ws {
		p.wsDials.Add(1)
		n := p.wsOpen.Add(1)
		defer p.wsOpen.Add(-1)
		for {
			peak := p.wsPeak.Load()
			if n <= peak || p.wsPeak.CompareAndSwap(peak, n) {
				break
			}
		}
	} else {
		p.restConns.Add(1)
	}
	u, err := net.DialTimeout("tcp", p.target, upstreamTimeout)
	if err != nil {
		return
	}
	if !p.track(u) {
		u.Close()
		return
	}
	defer p.untrack(u)
	if _, err := u.Write(head); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		io.CopyBuffer(u, br, make([]byte, proxyCopyBuffer))
		done <- struct{}{}
	}()
	go func() {
		io.CopyBuffer(c, u, make([]byte, proxyCopyBuffer))
		done <- struct{}{}
	}()
	<-done
	c.Close()
	u.Close()
	<-done
}

// readHead reads the first request's line and headers (through the blank
// line) and reports whether it asks for a websocket upgrade.
func readHead(br *bufio.Reader) (head []byte, ws bool, err error) {
	for lines := 0; ; lines++ {
		if lines > maxHeaderLines {
			return nil, false, errHeadTooLarge
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, false, err
		}
		if len(head)+len(line) > maxRequestHead {
			return nil, false, errHeadTooLarge
		}
		head = append(head, line...)
		if lines > 0 && isUpgradeWebsocket(line) {
			ws = true
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return head, ws, nil
		}
	}
}

// isUpgradeWebsocket reports whether a header line is "Upgrade: websocket"
// (names and values compared case-insensitively, as HTTP wants).
func isUpgradeWebsocket(line []byte) bool {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	return bytes.EqualFold(bytes.TrimSpace(name), []byte("upgrade")) &&
		bytes.Contains(bytes.ToLower(value), []byte("websocket"))
}

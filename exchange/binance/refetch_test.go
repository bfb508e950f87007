package binance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange"
	"arb/exchange/num"
)

// fakeClock is the feed's clock in TestRefetchWithinWeightBudget: every
// reading advances it by tick (so time passes with activity: each frame
// received reads it), and a sleep advances it by the duration at once.
// Every time decision of the feed — frame receive stamps, the session's
// backoff, the weight gate — reads it, so what the test measures in it is
// what the code decided. One thing couples it to the machine: frames keep
// arriving (each a tick) while a snapshot request is on the network, for
// however long a loaded machine takes; the tick must be small enough that
// this never adds up to the gaps the test measures (see runRefused).
type fakeClock struct {
	ns   atomic.Int64
	tick int64
}

func (c *fakeClock) now() int64 { return c.ns.Add(c.tick) }

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.ns.Add(int64(d))
	runtime.Gosched()
	return ctx.Err()
}

// TestRefetchWithinWeightBudget is issue 9's bound: a book whose snapshot
// is refused — for any reason — is refetched no faster than the feed's
// request-weight budget allows, and each request in a row waits the
// session's growing backoff. A real Feed runs against a websocket that
// streams a contiguous diff-depth stream and a REST endpoint that answers
// every snapshot request with something the session cannot use; the
// endpoint stamps every request with the feed's (fake) clock. Each cause
// runs twice: with the session's backoff made negligible, so that the
// weight budget is what binds (no aligned minute may spend more; the
// requests must spread over the minutes the budget forces), and with the
// default backoff and a large budget (each request in a row at least the
// backoff after the previous one, settling at one per BackoffMax).
func TestRefetchWithinWeightBudget(t *testing.T) {
	const weight = 50 // GET /api/v3/depth limit=1000
	type answer struct {
		status int
		header map[string]string
		body   func(lastID uint64) string
	}
	crossed := func(id uint64) string {
		return fmt.Sprintf(`{"lastUpdateId":%d,"bids":[["0.36000000","1"]],"asks":[["0.35000000","1"]]}`, id)
	}
	cases := []struct {
		name string
		a    answer
		// perMin is the most requests an aligned minute may see under a
		// budget of 500 (10 snapshots).
		perMin int
		// backoff: consecutive requests must be at least the session's
		// backoff apart (not where the fetcher's own retries of one
		// request — HTTP errors — sit between them).
		backoff bool
		// retryAfter: the venue's Retry-After, which binds before the
		// budget: consecutive requests at least this far apart.
		retryAfter time.Duration
	}{
		{"levels the scale cannot hold", answer{200, nil, func(id uint64) string {
			return fmt.Sprintf(`{"lastUpdateId":%d,"bids":[["0.35125000","10.5"]],"asks":[["0.35290000","1"]]}`, id)
		}}, 10, true, 0},
		{"crossed", answer{200, nil, crossed}, 10, true, 0},
		{"malformed", answer{200, nil, func(uint64) string { return `{"lastUpdateId":` }}, 10, true, 0},
		{"older than the stream", answer{200, nil, func(uint64) string {
			return `{"lastUpdateId":5,"bids":[["0.35000000","1"]],"asks":[["0.35290000","1"]]}`
		}}, 10, true, 0},
		{"server error", answer{503, nil, func(uint64) string { return `` }}, 10, false, 0},
		{"rate limited", answer{429, map[string]string{"Retry-After": "7"}, func(uint64) string { return `{"code":-1003,"msg":"Too much request weight used"}` }}, 10, false, 7 * time.Second},
		{"banned", answer{418, map[string]string{"Retry-After": "120"}, func(uint64) string { return `{"code":-1003,"msg":"Way too much request weight used; IP banned"}` }}, 10, false, 2 * time.Minute},
		// Binance says this IP already used 480 of the minute (other
		// processes, order entry): 480 + 50 > 500 leaves one per minute.
		{"venue counts more weight than ours", answer{200, map[string]string{"X-MBX-USED-WEIGHT-1M": "480"}, crossed}, 1, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name+"/budget", func(t *testing.T) {
			// A 10 µs tick: the session's 1-5 ms backoff passes within a
			// few hundred frames, and the frames read during a request's
			// round trip (hundreds on a loaded machine) stay far below the
			// budget's 6 s per request, which the gate's sleeps provide.
			// With a 10 ms tick they added up to seconds per request and
			// the budget never bound.
			got := runRefused(t, c.a.status, c.a.header, c.a.body, 500, time.Millisecond, 5*time.Millisecond, 30, 10*time.Microsecond)
			perMin := map[int64]int{}
			for _, ts := range got {
				perMin[ts/int64(time.Minute)]++
			}
			for m, n := range perMin {
				if n > c.perMin {
					t.Fatalf("%d requests (weight %d) in minute %d, at most %d allowed: %v", n, n*weight, m, c.perMin, rel(got))
				}
			}
			if c.retryAfter > 0 {
				for k := 1; k < len(got); k++ {
					if gap := time.Duration(got[k] - got[k-1]); gap < c.retryAfter {
						t.Fatalf("request %d came %v after a Retry-After of %v: %v", k+1, gap, c.retryAfter, rel(got))
					}
				}
				return
			}
			// The budget is what binds here (the session alone would ask every
			// few milliseconds): some minute is spent to the last snapshot.
			full := false
			for _, n := range perMin {
				full = full || n == c.perMin
			}
			if !full {
				t.Fatalf("no minute spent its budget: the test did not exercise the limit: %v", rel(got))
			}
		})
		t.Run(c.name+"/backoff", func(t *testing.T) {
			// A 10 ms tick: frames must carry the session's clock through
			// backoffs of up to 30 s; round trips only lengthen the gaps,
			// which are checked from below.
			got := runRefused(t, c.a.status, c.a.header, c.a.body, 6000, 100*time.Millisecond, 30*time.Second, 16, 10*time.Millisecond)
			if !c.backoff {
				return
			}
			// Each request in a row waits the session's backoff: 0, then
			// BackoffMin (100 ms) doubling to BackoffMax (30 s), counted
			// from the refusal, which comes after the request.
			h := &Session{backoffMin: int64(100 * time.Millisecond), backoffMax: int64(30 * time.Second)}
			for k := 1; k < len(got); k++ {
				if gap, min := got[k]-got[k-1], h.backoff(k+1); gap < min {
					t.Fatalf("request %d came %v after the previous one, backoff %v: %v", k+1, time.Duration(gap), time.Duration(min), rel(got))
				}
			}
			// Refused forever, it settles at one request per BackoffMax.
			if gap := time.Duration(got[len(got)-1] - got[len(got)-2]); gap < 30*time.Second {
				t.Fatalf("last requests %v apart", gap)
			}
		})
	}
}

// runRefused runs a Feed (its clock advancing tick per reading) for NKNUSDT
// at its filters' decimals (4 and 0)
// against a test venue whose every snapshot answer is (status, header,
// body), until n snapshot requests arrived, and returns the times on the
// feed's clock at which the feed admitted them (sent them on their way:
// a request's arrival may fall later, into the next minute, as on a real
// network, which is why the budget keeps headroom of the IP's limit).
func runRefused(t *testing.T, status int, header map[string]string, body func(uint64) string,
	budget int, backoffMin, backoffMax time.Duration, n int, tick time.Duration) []int64 {
	t.Helper()
	clk := &fakeClock{tick: int64(tick)}
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	var (
		mu       sync.Mutex
		times    []int64 // admissions
		arrivals int
		last     atomic.Uint64 // the stream's latest update id
	)
	enough := make(chan struct{})
	quit := make(chan struct{}) // the streaming handler stops with the test
	var streaming sync.WaitGroup
	defer streaming.Wait()
	defer close(quit)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v3/depth") {
			mu.Lock()
			arrivals++
			if arrivals == n {
				close(enough)
			}
			mu.Unlock()
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			w.Write([]byte(body(last.Load())))
			return
		}
		streaming.Add(1)
		defer streaming.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		sc := num.Scale{Px: 8, Qty: 8}
		for id := uint64(1000); ; id++ {
			select {
			case <-quit:
				return
			default:
			}
			last.Store(id)
			f := depthFrame("NKNUSDT", sc, 1633998512068, id, id, []exchange.Level{{Px: 35120000, Qty: 100000000}}, nil)
			if ws.WriteMessage(websocket.TextMessage, f) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	cfg := baseConfig(ChannelDepth, 1000, testInst("NKNUSDT", 1, 4, 0))
	cfg.WSURL = "ws" + strings.TrimPrefix(srv.URL, "http")
	cfg.RESTURL = srv.URL
	cfg.SnapshotWeightPerMin = budget
	cfg.BackoffMin, cfg.BackoffMax = backoffMin, backoffMax
	cfg.AgeMax = 24 * time.Hour // fake time jumps with every budget wait
	cfg.Now = clk.now
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.sleep = clk.sleep
	f.admitted = func(at time.Time) {
		mu.Lock()
		times = append(times, at.UnixNano())
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		mu.Lock()
		t.Errorf("only %d snapshot requests in 60 s", arrivals)
		mu.Unlock()
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if t.Failed() {
		t.FailNow()
	}
	if f.Stats().Reconnects.Load() != 0 {
		t.Fatalf("the feed reconnected %d times", f.Stats().Reconnects.Load())
	}
	if len(times) < arrivals {
		t.Fatalf("%d requests arrived, %d admitted", arrivals, len(times))
	}
	got := append([]int64(nil), times[:n]...)
	t.Logf("%d requests over %v of feed time: %v", n, time.Duration(got[n-1]-got[0]), rel(got))
	return got
}

// rel renders request times relative to the first, for failure messages.
func rel(ts []int64) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%v ", time.Duration(t-ts[0]).Round(time.Millisecond))
	}
	return b.String()
}

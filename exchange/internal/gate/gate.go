package gate

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"arb/exchange"
)

// Budget is one documented limit: at most Limit units per Window.
type Budget struct {
	Name   string // the venue's name for it ("REQUEST_WEIGHT", "ORDERS"), used in reasons
	Limit  int
	Window time.Duration
}

// Config configures a Gate.
type Config struct {
	Budgets []Budget
	// Threshold is the number of consecutive failures (transport errors,
	// 5XX, unknown outcomes) that opens the circuit; 0 disables it.
	Threshold int
	// Cooldown is how long the circuit stays open after Threshold failures.
	Cooldown time.Duration
	// Headroom is the fraction of each budget kept unused (0.1 keeps 10%
	// back for the requests other tools of the same account make).
	Headroom float64
}

// Validate checks c, naming the offending field.
func (c *Config) Validate() error {
	for i, b := range c.Budgets {
		if b.Limit <= 0 || b.Window <= 0 {
			return fmt.Errorf("gate: budgets[%d] %q: limit and window must be > 0", i, b.Name)
		}
	}
	if c.Threshold < 0 || c.Threshold > 0 && c.Cooldown <= 0 {
		return errors.New("gate: threshold must be ≥ 0, with a cooldown > 0 when set")
	}
	if c.Headroom < 0 || c.Headroom >= 1 {
		return errors.New("gate: headroom must be in [0, 1)")
	}
	return nil
}

// Cost is an amount of one budget (by index in Config.Budgets).
type Cost struct {
	Budget int
	Units  int
}

// Refusal says why a request may not go now and when it may.
type Refusal struct {
	Wait   time.Duration // until the request may be retried (≥ 1 ns)
	Reason string        // "REQUEST_WEIGHT budget", "Retry-After", "banned: …", "circuit open: …"
	Open   bool          // the circuit is open (a ban or repeated failures), not a mere budget wait
}

// Error implements error.
func (r *Refusal) Error() string { return fmt.Sprintf("gate: %s (retry in %v)", r.Reason, r.Wait) }

type window struct {
	start int64 // window start, Unix ns (aligned)
	used  int
}

// Gate is admission control for one venue (see the package doc).
type Gate struct {
	mu      sync.Mutex
	cfg     Config
	limits  []int // Limit × (1 − Headroom)
	windows []window

	blockedUntil int64
	blockReason  string
	openUntil    int64 // circuit
	openReason   string
	openBan      bool // the open circuit came from a ban (Block with ban), not from failures
	failures     int

	taken, refused uint64
}

// New returns a gate; it panics on an invalid config (a programming error:
// budgets are the venues' documented constants).
func New(cfg Config) *Gate {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	g := &Gate{cfg: cfg, windows: make([]window, len(cfg.Budgets)), limits: make([]int, len(cfg.Budgets))}
	for i, b := range cfg.Budgets {
		g.limits[i] = int(float64(b.Limit) * (1 - cfg.Headroom))
		if g.limits[i] < 1 {
			g.limits[i] = 1
		}
	}
	return g
}

func (g *Gate) roll(i int, now int64) *window {
	w := &g.windows[i]
	win := int64(g.cfg.Budgets[i].Window)
	start := now - now%win
	if w.start != start {
		w.start, w.used = start, 0
	}
	return w
}

// Take admits a request spending costs, all or nothing; it returns nil or a
// *Refusal. Nothing is spent when it refuses.
func (g *Gate) Take(now time.Time, costs ...Cost) error {
	t := now.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	if t < g.openUntil {
		g.refused++
		return &Refusal{Wait: time.Duration(g.openUntil - t), Reason: "circuit open: " + g.openReason, Open: true}
	}
	if t < g.blockedUntil {
		g.refused++
		return &Refusal{Wait: time.Duration(g.blockedUntil - t), Reason: g.blockReason}
	}
	for _, c := range costs {
		w := g.roll(c.Budget, t)
		if w.used+c.Units > g.limits[c.Budget] {
			g.refused++
			win := int64(g.cfg.Budgets[c.Budget].Window)
			return &Refusal{Wait: time.Duration(w.start + win - t), Reason: g.cfg.Budgets[c.Budget].Name + " budget"}
		}
	}
	for _, c := range costs {
		g.windows[c.Budget].used += c.Units
	}
	g.taken++
	return nil
}

// Observe raises budget i's count in the current window to used, the
// venue's own count from a response header. A lower count is ignored: the
// gate never trusts a header to free budget it has spent.
func (g *Gate) Observe(now time.Time, i, used int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.roll(i, now.UnixNano())
	if used > w.used {
		w.used = used
	}
}

// Block forbids every request until until (a Retry-After, a reset time). A
// ban also opens the circuit until then with reason. A shorter block than
// one in force does not shorten it.
func (g *Gate) Block(until time.Time, reason string, ban bool) {
	u := until.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	if ban {
		if u > g.openUntil {
			g.openUntil, g.openReason, g.openBan = u, reason, true
		}
		return
	}
	if u > g.blockedUntil {
		g.blockedUntil, g.blockReason = u, reason
	}
}

// Result records one request's outcome for the breaker: ok resets the run
// of failures; Threshold failures in a row open the circuit for Cooldown.
func (g *Gate) Result(now time.Time, ok bool, what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ok {
		g.failures = 0
		return
	}
	g.failures++
	if g.cfg.Threshold > 0 && g.failures >= g.cfg.Threshold {
		until := now.Add(g.cfg.Cooldown).UnixNano()
		if until > g.openUntil {
			g.openUntil, g.openBan = until, false
			g.openReason = fmt.Sprintf("%d failures in a row, last: %s", g.failures, what)
		}
		g.failures = 0
	}
}

// State is a snapshot of the gate for status pages and metrics.
type State struct {
	Open         bool
	Banned       bool      // Open because of a ban (Block with ban), not a run of failures
	OpenUntil    time.Time // zero when closed
	OpenReason   string
	BlockedUntil time.Time // zero when not blocked
	BlockReason  string
	Used         []int // per budget, in the current window
	Taken        uint64
	Refused      uint64
}

// State returns the gate's state at now.
func (g *Gate) State(now time.Time) State {
	t := now.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := State{Taken: g.taken, Refused: g.refused, Used: make([]int, len(g.windows))}
	if t < g.openUntil {
		s.Open, s.OpenUntil, s.OpenReason, s.Banned = true, time.Unix(0, g.openUntil), g.openReason, g.openBan
	}
	if t < g.blockedUntil {
		s.BlockedUntil, s.BlockReason = time.Unix(0, g.blockedUntil), g.blockReason
	}
	for i := range g.windows {
		s.Used[i] = g.roll(i, t).used
	}
	return s
}

// RateLimits reports every budget's use in its current window at now, with
// the venue's Limit (before headroom), and the end of a Retry-After block
// or a ban in force (the later of the two; a circuit opened by a run of
// failures is not a rate limit and is not reported here). It implements
// exchange.RateLimitReporter for the trading clients.
func (g *Gate) RateLimits(now time.Time) []exchange.RateLimit {
	t := now.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	var blocked int64
	if t < g.blockedUntil {
		blocked = g.blockedUntil
	}
	if t < g.openUntil && g.openBan && g.openUntil > blocked {
		blocked = g.openUntil
	}
	out := make([]exchange.RateLimit, len(g.windows))
	for i, b := range g.cfg.Budgets {
		out[i] = exchange.RateLimit{Budget: b.Name, Used: g.roll(i, t).used, Limit: b.Limit, Window: b.Window, BlockedUntil: blocked}
	}
	return out
}

package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// Limits checked by Validate.
const (
	// MaxFeeBps is the largest taker fee accepted: 10 %. No venue charges
	// that much; a larger value is a typo (a percentage written as bps).
	MaxFeeBps = 1000
	// MaxDepth is the largest book depth a venue may be asked to keep.
	MaxDepth = 5000
	// maxVenues and maxInstruments follow from the ids being 1-based.
	maxVenues      = exchange.MaxVenues - 1
	maxInstruments = exchange.MaxInstruments - 1
)

var (
	reVenueName   = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	reAsset       = regexp.MustCompile(`^[A-Z0-9]{1,16}$`)
	reEnvName     = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
	reVenueSymbol = regexp.MustCompile(`^[A-Za-z0-9._/:-]{1,64}$`)
	reChannel     = regexp.MustCompile(`^[A-Za-z0-9._@:-]{0,64}$`)
	reBucket      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	reInstance    = reBucket
	rePGPassword  = regexp.MustCompile(`(?i)(^|\s)password\s*=`)
	reHostName    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$`)
)

const simScheme = "sim"

// Validate checks c against the schema's rules and known. Problems name the
// key path and, for a Config from Load or Parse, the file and line. Parse
// calls it; call it again after changing a Config in code.
func (c *Config) Validate(known Known) error {
	ps := c.newProblems()
	c.validate(ps, known)
	c.check(ps, known, true)
	return ps.err()
}

// newProblems returns an empty problem list locating lines in c's file.
func (c *Config) newProblems() *problems {
	ps := &problems{file: c.Source, lines: c.lines}
	if ps.file == "" {
		ps.file = "config"
	}
	return ps
}

// validate adds the schema's problems to ps.
func (c *Config) validate(ps *problems, known Known) {
	v := validator{ps: ps, c: c, known: known}
	v.top()
	v.instruments()
	v.venues()
	v.strategy()
	v.execution()
}

// check runs known.Check when clean is true and ps holds no problem yet.
func (c *Config) check(ps *problems, known Known, clean bool) {
	if known.Check == nil || !clean || len(ps.list) > 0 {
		return
	}
	known.Check(c, ps.add)
}

type validator struct {
	ps    *problems
	c     *Config
	known Known
}

func (v *validator) bad(path, format string, a ...any) { v.ps.add(path, fmt.Sprintf(format, a...)) }

func (v *validator) top() {
	c := v.c
	if c.DataDir == "" {
		v.bad("data_dir", "must not be empty")
	}
	if c.Risk.RulesFile == "" {
		v.bad("risk.rules_file", "must name the rules file every plan must pass")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.bad("log.level", "unknown level %q (want debug, info, warn, error)", clip(c.Log.Level))
	}
	if err := checkListen(c.HTTP.Listen); err != "" {
		v.bad("http.listen", "%s", err)
	}
	if c.NATS.URL != "" {
		for _, u := range strings.Split(c.NATS.URL, ",") {
			if err := checkURL(strings.TrimSpace(u), []string{"nats", "tls", "ws", "wss"}, "nats, tls, ws or wss"); err != "" {
				v.bad("nats.url", "%s", err)
				break
			}
		}
	} else if c.NATS.CredentialsFile != "" {
		v.bad("nats.credentials_file", "is set but nats.url is empty (the embedded server needs no credentials)")
	}
	if t := c.NATS.TLS; t.Set() {
		switch {
		case c.NATS.URL == "":
			v.bad("nats.tls", "is set but nats.url is empty (the embedded server is reached in process)")
		case (t.CertFile == "") != (t.KeyFile == ""):
			v.bad("nats.tls", "cert_file and key_file go together (a client certificate and its key)")
		}
	}
	if pgHasPassword(c.Postgres.DSN) {
		v.bad("postgres.dsn", "contains a password; secrets are never read from the config file: put the DSN in %s or the password in PGPASSWORD", EnvPGDSN)
	}
	if c.Sim.Step <= 0 {
		v.bad("sim.step", "must be positive, found %s", c.Sim.Step)
	}
	if b := c.Risk.KVBucket; b != "" && !reBucket.MatchString(b) {
		v.bad("risk.kv_bucket", "%q is not a NATS KV bucket name (A-Z a-z 0-9 _ -, up to 64)", clip(b))
	}
	if c.Risk.KVBucket != "" && len(c.Risk.KVTrustedKeys) == 0 {
		v.bad("risk.kv_trusted_keys", "risk.kv_bucket is set: list the public keys (arb rules keygen) whose signed rule sets may replace the rules")
	}
	if id := c.Fleet.Instance; id != "" && !reInstance.MatchString(id) {
		v.bad("fleet.instance", "%q is not an instance name (A-Z a-z 0-9 _ -, up to 64)", clip(id))
	}
	if b := c.Fleet.KillSwitchBucket; b != "" && !reBucket.MatchString(b) {
		v.bad("fleet.kill_switch_bucket", "%q is not a NATS KV bucket name (A-Z a-z 0-9 _ -, up to 64)", clip(b))
	}
	if b := c.Fleet.StatusBucket; !reBucket.MatchString(b) {
		v.bad("fleet.status_bucket", "%q is not a NATS KV bucket name (A-Z a-z 0-9 _ -, up to 64)", clip(b))
	}
	if b := c.Fleet.KillSwitchBucket; b != "" && (b == c.Fleet.StatusBucket || b == c.Risk.KVBucket) {
		v.bad("fleet.kill_switch_bucket", "%q is also used for another purpose: the kill switch needs a bucket of its own (its values never expire)", b)
	}
	if h := c.Fleet.Heartbeat; h < 100*time.Millisecond || h > 5*time.Minute {
		v.bad("fleet.heartbeat", "must be between 100ms and 5m, found %s", h)
	}
	for i, k := range c.Risk.KVTrustedKeys {
		if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != ed25519.PublicKeySize {
			v.bad("risk.kv_trusted_keys["+strconv.Itoa(i)+"]", "%q is not an ed25519 public key (base64 of 32 bytes, as arb rules keygen prints)", clip(k))
		}
	}
	for i, h := range c.HTTP.AllowedHosts {
		if !reHostName.MatchString(h) {
			v.bad("http.allowed_hosts["+strconv.Itoa(i)+"]", "%q is not a host name (letters, digits, - and ., no port)", clip(h))
		}
	}
}

func (v *validator) instruments() {
	c := v.c
	if len(c.Instruments) == 0 {
		v.bad("instruments", "at least one instrument is required")
	}
	if len(c.Instruments) > maxInstruments {
		v.bad("instruments", "%d instruments, more than the %d supported", len(c.Instruments), maxInstruments)
	}
	first := map[string]string{}
	for i, in := range c.Instruments {
		p := "instruments[" + strconv.Itoa(i) + "]"
		if !isCanonical(in.Symbol) {
			v.bad(p+".symbol", "%q is not BASE-QUOTE in upper-case letters and digits, such as BTC-USDT", clip(in.Symbol))
		} else if f, dup := first[in.Symbol]; dup {
			v.bad(p+".symbol", "duplicate instrument %q (first at %s)", in.Symbol, f)
		} else {
			first[in.Symbol] = p
		}
		if in.PriceDecimals < 0 || in.PriceDecimals > num.MaxDecimals {
			v.bad(p+".price_decimals", "%d is out of range (0..%d)", in.PriceDecimals, num.MaxDecimals)
		}
		if in.QtyDecimals < 0 || in.QtyDecimals > num.MaxDecimals {
			v.bad(p+".qty_decimals", "%d is out of range (0..%d)", in.QtyDecimals, num.MaxDecimals)
		}
	}
}

// instrument returns the instrument with symbol if it is configured and its
// scale is valid (so decimals can be checked against it).
func (v *validator) instrument(symbol string) (Instrument, bool) {
	in, ok := v.c.Instrument(symbol)
	return in, ok && in.PriceDecimals >= 0 && in.PriceDecimals <= num.MaxDecimals &&
		in.QtyDecimals >= 0 && in.QtyDecimals <= num.MaxDecimals
}

func (v *validator) venues() {
	c := v.c
	if len(c.Venues) == 0 {
		v.bad("venues", "at least one venue is required")
	}
	if len(c.Venues) > maxVenues {
		v.bad("venues", "%d venues, more than the %d supported", len(c.Venues), maxVenues)
	}
	names := map[string]string{}
	simKinds := map[string]string{} // sim venue -> "kind@path" of its first user
	for i := range c.Venues {
		ve := &c.Venues[i]
		p := "venues[" + strconv.Itoa(i) + "]"
		switch {
		case ve.Name == "":
			v.bad(p+".name", "must not be empty")
		case !reVenueName.MatchString(ve.Name):
			v.bad(p+".name", "%q is not a venue name (a-z 0-9 _ -, 1 to 32 characters)", clip(ve.Name))
		default:
			if f, dup := names[ve.Name]; dup {
				v.bad(p+".name", "duplicate venue name %q (first at %s)", ve.Name, f)
			} else {
				names[ve.Name] = p
			}
		}
		if !slices.Contains(v.known.Kinds, ve.Kind) {
			want := "no venue kinds are available"
			if len(v.known.Kinds) > 0 {
				want = "want " + strings.Join(v.known.Kinds, ", ")
			}
			v.bad(p+".kind", "unknown venue kind %q (%s)", clip(ve.Kind), want)
		}
		if ve.Kind == KindUniswap {
			v.chainVenue(i, ve, p)
		} else if ve.Chain != nil {
			v.bad(p+".chain", "only for an on-chain venue (kind %s)", KindUniswap)
		}
		before := len(v.ps.list)
		if ve.Kind != KindUniswap {
			v.venueURLs(ve, p, simKinds)
		}
		if len(v.ps.list) == before && ve.Kind != KindUniswap {
			// What trading needs depends on whether the venue is simulated:
			// checked once its URLs are right.
			v.venueTrading(i, ve, p)
		}
		for _, e := range []struct{ key, val string }{
			{"api_key_env", ve.APIKeyEnv}, {"api_secret_env", ve.APISecretEnv}, {"api_passphrase_env", ve.APIPassphraseEnv},
		} {
			if e.val != "" && !reEnvName.MatchString(e.val) {
				// The value is not repeated: it may be a pasted secret.
				v.bad(p+"."+e.key, "is not an environment variable name (A-Z 0-9 _): write the variable's NAME here, never the secret")
			}
		}
		if !reChannel.MatchString(ve.Channel) {
			v.bad(p+".channel", "%q is not a stream name (A-Z a-z 0-9 . _ @ : -, up to 64)", clip(ve.Channel))
		}
		if ve.Depth < 0 || ve.Depth > MaxDepth {
			v.bad(p+".depth", "%d is out of range (0..%d; 0 = adapter default)", ve.Depth, MaxDepth)
		}
		switch {
		case ve.TakerFeeBps < 0 || math.IsNaN(ve.TakerFeeBps):
			v.bad(p+".taker_fee_bps", "must not be negative, found %v", ve.TakerFeeBps)
		case ve.TakerFeeBps > MaxFeeBps:
			v.bad(p+".taker_fee_bps", "%v bps is more than %d bps (10%%); is it a percentage?", ve.TakerFeeBps, MaxFeeBps)
		}
		if ve.FeeAsset != "quote" && ve.FeeAsset != "base" && !reAsset.MatchString(ve.FeeAsset) {
			v.bad(p+".fee_asset", "%q is not quote, base or an asset such as BNB", clip(ve.FeeAsset))
		}
		if ve.GasQuote.IsNegative() {
			v.bad(p+".gas_quote", "must not be negative, found %s", ve.GasQuote)
		}
		if ve.AgeMax <= 0 {
			v.bad(p+".age_max", "must be positive, found %s", ve.AgeMax)
		}
		v.venueSymbols(ve, p)
		v.assetAmounts(ve.WithdrawFees, p+".withdraw_fees")
		v.assetAmounts(ve.Balances, p+".balances")
		for _, asset := range sortedKeys(ve.Balances) {
			if reAsset.MatchString(asset) && !v.assetUsed(asset) {
				v.bad(p+".balances."+asset, "no configured instrument uses asset %s; a starting balance needs an instrument to trade it", asset)
			}
		}
	}
}

// venueTrading checks what a venue needs to trade: a paper venue needs
// nothing; a simulated one is reached at the simulator's endpoints with its
// public test keys; a real one needs its private websocket and the names of
// the environment variables holding its keys (the keys themselves are read
// at start).
func (v *validator) venueTrading(i int, ve *Venue, p string) {
	_, isSim := ve.SimName()
	for _, u := range []struct{ key, val string }{{"private_ws_url", ve.PrivateWSURL}, {"trade_ws_url", ve.TradeWSURL}} {
		switch {
		case u.val == "":
		case isSim:
			v.bad(p+"."+u.key, "a simulated venue (sim://) is reached at the simulator's own endpoints; remove %s", u.key)
		default:
			if err := checkURL(u.val, []string{"ws", "wss"}, "ws or wss"); err != "" {
				v.bad(p+"."+u.key, "%s", err)
			}
		}
	}
	if ve.Demo && ve.Kind != "okx" {
		v.bad(p+".demo", "demo trading is OKX's (its x-simulated-trading header); this venue is %s", clip(ve.Kind))
	}
	if v.c.VenuePaper(i) || isSim {
		return
	}
	need := []struct{ key, val, why string }{
		{"api_key_env", ve.APIKeyEnv, "the environment variable holding the API key"},
		{"api_secret_env", ve.APISecretEnv, "the environment variable holding the API secret"},
	}
	if ve.Kind == "okx" {
		need = append(need, struct{ key, val, why string }{"api_passphrase_env", ve.APIPassphraseEnv, "the environment variable holding the API passphrase"})
	}
	for _, n := range need {
		if n.val == "" {
			v.bad(p+"."+n.key, "required for a venue that trades for real (paper: false): name %s", n.why)
		}
	}
	if ve.PrivateWSURL == "" {
		v.bad(p+".private_ws_url", "required for a venue that trades for real (paper: false): the venue's private websocket (see configs/testnet.yaml)")
	}
}

// assetUsed reports whether asset is the base or quote of a configured
// instrument.
func (v *validator) assetUsed(asset string) bool {
	for _, in := range v.c.Instruments {
		if in.Base() == asset || in.Quote() == asset {
			return true
		}
	}
	return false
}

// venueURLs checks ws_url and rest_url: real endpoints by scheme and host,
// sim:// ones against the simulator's settings. Both must be sim:// or
// neither, naming the same simulated venue: a venue is simulated or not.
func (v *validator) venueURLs(ve *Venue, p string, simKinds map[string]string) {
	wsSim, wsOK := v.oneURL(ve.WSURL, p+".ws_url", "ws", "wss")
	restSim, restOK := v.oneURL(ve.RESTURL, p+".rest_url", "http", "https")
	if !wsOK || !restOK {
		return
	}
	switch {
	case wsSim != restSim && wsSim == "":
		v.bad(p+".ws_url", "%q must be sim:// as rest_url is (%s)", clip(ve.WSURL), ve.RESTURL)
		return
	case wsSim != restSim && restSim == "":
		v.bad(p+".rest_url", "%q must be sim:// as ws_url is (%s)", clip(ve.RESTURL), ve.WSURL)
		return
	case wsSim != restSim:
		v.bad(p+".rest_url", "names simulated venue %q but ws_url names %q", restSim, wsSim)
		return
	case wsSim == "":
		return
	}
	if f, ok := simKinds[wsSim]; ok {
		kind, at, _ := strings.Cut(f, "@")
		if kind != ve.Kind {
			v.bad(p+".ws_url", "simulated venue %q already speaks kind %q for %s; one simulated venue speaks one protocol", wsSim, kind, at)
		}
	} else {
		simKinds[wsSim] = ve.Kind + "@" + p
	}
}

// oneURL checks one venue URL. It returns the simulated venue's name for a
// sim:// URL ("" otherwise) and whether the URL is valid.
func (v *validator) oneURL(raw, path string, schemes ...string) (simName string, ok bool) {
	if raw == "" {
		v.bad(path, "must not be empty")
		return "", false
	}
	if name, isSim := strings.CutPrefix(raw, simScheme+"://"); isSim {
		switch {
		case !reVenueName.MatchString(name):
			v.bad(path, "%q: sim://<name> needs a simulated venue name (a-z 0-9 _ -), nothing else", clip(raw))
		case !v.c.Sim.Enabled:
			v.bad(path, "%q needs the simulator, but sim.enabled is false", clip(raw))
		case v.known.SimVenues != nil && !slices.Contains(v.known.SimVenues, name):
			v.bad(path, "no simulated venue %q (have %s)", name, strings.Join(v.known.SimVenues, ", "))
		default:
			return name, true
		}
		return "", false
	}
	if err := checkURL(raw, schemes, strings.Join(schemes, ", ")+" or sim"); err != "" {
		v.bad(path, "%s", err)
		return "", false
	}
	return "", true
}

// checkURL returns "" if raw is an absolute URL with one of schemes, a host
// and no credentials, else what is wrong; want lists the schemes for the
// message.
func checkURL(raw string, schemes []string, want string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", clip(raw), unwrapURLError(err))
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Sprintf("%q has scheme %q (want %s)", clip(raw), clip(u.Scheme), want)
	}
	if u.User != nil {
		// The URL is not repeated: it holds the secret.
		return "the URL carries credentials (user:password@); secrets are never read from the config file"
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("%q has no host", clip(raw))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q has port %q outside 1..65535", clip(raw), p)
		}
	}
	return ""
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// checkListen returns "" if s is host:port with a numeric port, else what is
// wrong. An empty host (":7420", every interface) is allowed: it is an
// explicit choice, which the HTTP server logs as a warning.
func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port: %v", clip(s), unwrapAddrError(err))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has port %q, not a number in 0..65535", clip(s), clip(port))
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Sprintf("%q has host %q, not a host name or IP address", clip(s), clip(host))
	}
	return ""
}

func unwrapAddrError(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

// pgHasPassword reports whether a PostgreSQL DSN, URL or keyword form,
// carries a password.
func pgHasPassword(dsn string) bool {
	if dsn == "" {
		return false
	}
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil {
			if _, ok := u.User.Password(); ok {
				return true
			}
			if u.Query().Has("password") {
				return true
			}
			return false
		}
		return strings.Contains(strings.ToLower(dsn), "password") // unparsable: be safe
	}
	return rePGPassword.MatchString(dsn)
}

// venueSymbols checks the symbol mapping and the filter overrides.
func (v *validator) venueSymbols(ve *Venue, p string) {
	if len(ve.Symbols) == 0 {
		v.bad(p+".symbols", "at least one symbol mapping (canonical: venue symbol) is required")
	}
	bySymbol := map[string]string{}
	for _, canon := range sortedKeys(ve.Symbols) {
		vs := ve.Symbols[canon]
		kp := p + ".symbols." + canon
		if _, ok := v.c.Instrument(canon); !ok {
			v.bad(kp, "%q is not a configured instrument (see instruments)", clip(canon))
		}
		switch {
		case vs == "":
			v.bad(kp, "venue symbol must not be empty")
		case !reVenueSymbol.MatchString(vs):
			v.bad(kp, "venue symbol %q has characters outside A-Z a-z 0-9 . _ / : -", clip(vs))
		default:
			if other, dup := bySymbol[vs]; dup {
				v.bad(kp, "venue symbol %q is also mapped from %s", vs, other)
			} else {
				bySymbol[vs] = canon
			}
		}
	}
	for _, canon := range sortedKeys(ve.Filters) {
		f := ve.Filters[canon]
		kp := p + ".filters." + canon
		if _, ok := ve.Symbols[canon]; !ok {
			v.bad(kp, "%q has no symbol mapping on this venue (see symbols)", clip(canon))
			continue
		}
		in, ok := v.instrument(canon)
		if !ok {
			continue // reported under symbols or instruments
		}
		sc := in.Scale()
		v.filterValue(f.Tick, kp+".tick", in.Symbol, "price_decimals", sc.Px, true)
		v.filterValue(f.Step, kp+".step", in.Symbol, "qty_decimals", sc.Qty, true)
		v.filterValue(f.MinQty, kp+".min_qty", in.Symbol, "qty_decimals", sc.Qty, false)
		v.filterValue(f.MinNotional, kp+".min_notional", in.Symbol, "price_decimals", sc.Px, false)
	}
}

// filterValue checks one filter override: sign, and exact representation in
// the instrument's scale, so the wiring's conversion (Fixed) cannot fail and
// nothing is rounded silently.
func (v *validator) filterValue(d decimal.NullDecimal, path, symbol, scaleKey string, dec uint8, positive bool) {
	if !d.Valid {
		return
	}
	switch {
	case positive && !d.Decimal.IsPositive():
		v.bad(path, "must be positive, found %s", d.Decimal)
		return
	case d.Decimal.IsNegative():
		v.bad(path, "must not be negative, found %s", d.Decimal)
		return
	}
	if _, err := Fixed(d.Decimal, dec); err != nil {
		if err == num.ErrPrecision {
			v.bad(path, "%q has more decimals than %s's %s (%d)", d.Decimal.String(), symbol, scaleKey, dec)
		} else {
			v.bad(path, "%q is too large for %s's %s (%d)", d.Decimal.String(), symbol, scaleKey, dec)
		}
	}
}

// assetAmounts checks an asset -> amount map (withdraw_fees, balances).
func (v *validator) assetAmounts(m map[string]decimal.Decimal, p string) {
	for _, asset := range sortedKeys(m) {
		kp := p + "." + asset
		if !reAsset.MatchString(asset) {
			v.bad(kp, "%q is not an asset (A-Z 0-9, up to 16)", clip(asset))
		}
		if d := m[asset]; d.IsNegative() {
			v.bad(kp, "must not be negative, found %s", d)
		}
	}
}

func (v *validator) strategy() {
	s := &v.c.Strategy
	for _, f := range []struct {
		key string
		val float64
		max float64
	}{
		{"min_net_edge_bps", s.MinNetEdgeBps, 10000},
		{"slippage_bps", s.SlippageBps, MaxFeeBps},
		{"slippage_vol_mult", s.SlippageVolMult, 1000},
		{"vol_mult", s.VolMult, 1000},
	} {
		if f.val < 0 || f.val > f.max || math.IsNaN(f.val) {
			v.bad("strategy."+f.key, "%v is out of range (0..%v)", f.val, f.max)
		}
	}
	for _, f := range []struct {
		key string
		val time.Duration
	}{{"vol_halflife", s.VolHalfLife}, {"cooldown", s.Cooldown}} {
		if f.val <= 0 {
			v.bad("strategy."+f.key, "must be positive, found %s", f.val)
		}
	}
	if !s.MaxNotional.IsPositive() {
		v.bad("strategy.max_notional", "must be a positive amount, found %s", s.MaxNotional)
	}
	if s.RebalanceTrades < 1 || s.RebalanceTrades > 1_000_000 {
		v.bad("strategy.rebalance_trades", "%d is out of range (1..1000000)", s.RebalanceTrades)
	}
	group := map[string]string{}
	for i, g := range s.QuoteEquivalents {
		p := "strategy.quote_equivalents[" + strconv.Itoa(i) + "]"
		if len(g) < 2 {
			v.bad(p, "a group needs at least two assets, found %d", len(g))
		}
		for j, a := range g {
			ap := p + "[" + strconv.Itoa(j) + "]"
			if !reAsset.MatchString(a) {
				v.bad(ap, "%q is not an asset (A-Z 0-9, up to 16)", clip(a))
			} else if f, dup := group[a]; dup {
				v.bad(ap, "%q is already in %s; an asset belongs to one group", a, f)
			} else {
				group[a] = p
			}
		}
	}
}

// isCanonical reports whether s is BASE-QUOTE in upper-case letters and digits.
func isCanonical(s string) bool {
	base, quote, ok := strings.Cut(s, "-")
	return ok && reAsset.MatchString(base) && reAsset.MatchString(quote)
}

// Fixed converts d to an integer count of 10^-dec units, exactly: num's
// representation of a price (dec = price decimals) or quantity (quantity
// decimals). It returns num.ErrPrecision if d has more than dec decimals and
// num.ErrRange if the result does not fit in an int64. Validation runs every
// filter override through it, so the wiring's conversions cannot fail.
func Fixed(d decimal.Decimal, dec uint8) (int64, error) {
	if dec > num.MaxDecimals {
		return 0, num.ErrRange
	}
	s := d.Shift(int32(dec))
	if !s.IsInteger() {
		return 0, num.ErrPrecision
	}
	b := s.BigInt()
	if !b.IsInt64() {
		return 0, num.ErrRange
	}
	return b.Int64(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Bounds of the execution keys (execute's own, which rejects the same).
const (
	maxPrefix     = 8
	maxRetries    = 8
	maxUnwinds    = 8
	maxPolicyBps  = 1000
	maxResends    = 16
	maxOpenTrades = 1 << 16
	maxKeepClosed = 1 << 20
)

var rePrefix = regexp.MustCompile(`^[A-Za-z0-9]{1,8}$`)

func (v *validator) execution() {
	e := &v.c.Execution
	if !rePrefix.MatchString(e.Prefix) {
		v.bad("execution.prefix", "%q is not 1 to %d letters and digits (client order ids start with it)", clip(e.Prefix), maxPrefix)
	}
	if e.MaxOpen < 1 || e.MaxOpen > maxOpenTrades {
		v.bad("execution.max_open", "%d is out of range (1..%d)", e.MaxOpen, maxOpenTrades)
	}
	if e.KeepClosed < 1 || e.KeepClosed > maxKeepClosed {
		v.bad("execution.keep_closed", "%d is out of range (1..%d)", e.KeepClosed, maxKeepClosed)
	}
	if e.PaperLatency < 0 || e.PaperLatency > time.Minute {
		v.bad("execution.paper_latency", "%s is out of range (0..1m)", e.PaperLatency)
	}
	if e.BalanceRefresh < time.Second {
		v.bad("execution.balance_refresh", "must be at least 1s, found %s", e.BalanceRefresh)
	}
	v.policy(&e.Policy, "execution.policy")
	for i := range e.Pairs {
		pp := &e.Pairs[i]
		p := "execution.pairs[" + strconv.Itoa(i) + "]"
		for _, f := range []struct{ key, val string }{{"buy_venue", pp.BuyVenue}, {"sell_venue", pp.SellVenue}} {
			if f.val != "" && !v.venueNamed(f.val) {
				v.bad(p+"."+f.key, "no venue named %q (see venues)", clip(f.val))
			}
		}
		if pp.Symbol != "" {
			if _, ok := v.c.Instrument(pp.Symbol); !ok {
				v.bad(p+".symbol", "%q is not a configured instrument (see instruments)", clip(pp.Symbol))
			}
		}
		v.policy(&pp.Policy, p+".policy")
	}
}

func (v *validator) venueNamed(name string) bool {
	for _, ve := range v.c.Venues {
		if ve.Name == name {
			return true
		}
	}
	return false
}

// policy checks each key a policy sets; how the keys fit together (the
// deadline leaves room for every step) is checked once they are resolved
// (Known.Check, with the executor's own validation).
func (v *validator) policy(pl *Policy, p string) {
	if pl.Mode != nil && *pl.Mode != "concurrent" && *pl.Mode != "sequential" {
		v.bad(p+".mode", "%q is neither concurrent nor sequential", clip(*pl.Mode))
	}
	if pl.First != nil && *pl.First != "buy" && *pl.First != "sell" {
		v.bad(p+".first", "%q is neither buy nor sell", clip(*pl.First))
	}
	for _, f := range []struct {
		key    string
		val    *int
		lo, hi int
	}{
		{"retry_max", pl.RetryMax, 0, maxRetries}, {"unwind_max", pl.UnwindMax, 0, maxUnwinds},
		{"retry_slippage_bps", pl.RetrySlippageBps, 0, maxPolicyBps}, {"unwind_slippage_bps", pl.UnwindSlippageBps, 0, maxPolicyBps},
		{"unwind_max_loss_bps", pl.UnwindMaxLossBps, 0, maxPolicyBps}, {"max_resends", pl.MaxResends, 0, maxResends},
	} {
		if f.val != nil && (*f.val < f.lo || *f.val > f.hi) {
			v.bad(p+"."+f.key, "%d is out of range (%d..%d)", *f.val, f.lo, f.hi)
		}
	}
	for _, f := range []struct {
		key  string
		val  *time.Duration
		zero bool // 0 allowed
	}{
		{"retry_window", pl.RetryWindow, true}, {"unwind_window", pl.UnwindWindow, true},
		{"ack_timeout", pl.AckTimeout, false}, {"final_timeout", pl.FinalTimeout, false},
		{"query_interval", pl.QueryInterval, false}, {"not_found_after", pl.NotFoundAfter, false},
		{"resend_window", pl.ResendWindow, true}, {"fill_timeout", pl.FillTimeout, false}, {"deadline", pl.Deadline, false},
	} {
		switch {
		case f.val == nil:
		case *f.val < 0 || (*f.val == 0 && !f.zero):
			v.bad(p+"."+f.key, "must be positive, found %s", *f.val)
		case *f.val > time.Hour:
			v.bad(p+"."+f.key, "%s is more than an hour", *f.val)
		}
	}
}

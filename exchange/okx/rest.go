package okx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// InstrumentsPath is OKX's public instrument list (no signature needed).
const InstrumentsPath = "/api/v5/public/instruments"

// maxRESTBody caps a REST reply read into memory (the SPOT list is ~1 MB).
const maxRESTBody = 32 << 20

// Errors of the instrument fetch that are configuration problems, not
// venue errors.
var (
	ErrUnknownInstrument = errors.New("okx: instrument not listed")
	ErrInstrumentNotLive = errors.New("okx: instrument not live")
	ErrFilterScale       = errors.New("okx: filter does not fit the canonical scale")
)

// Instruments fetches the filters of the feed's configured instruments (see
// FetchInstruments).
func (f *Feed) Instruments(ctx context.Context) ([]exchange.Instrument, error) {
	return FetchInstruments(ctx, f.cfg.HTTPClient, f.cfg.RESTURL, f.cfg.Name, f.cfg.Instruments)
}

// FetchInstruments GETs <restURL>/api/v5/public/instruments?instType=SPOT
// and returns a copy of want with Tick (tickSz), Step (lotSz) and MinQty
// (minSz) filled; OKX lists no minimum notional for spot, so MinNotional
// stays 0 (none). Each instrument's Scale is want's, widened where needed
// to hold tickSz, lotSz and minSz: OKX prices its book levels on tickSz and
// sizes them on lotSz, so the widened scale holds every level it sends (the
// wiring then gives every venue of the instrument the widest scale any of
// them needs). venue names the venue in errors. A venue error is an
// *exchange.Error (see classify); a symbol OKX does not list, or lists in a
// state other than "live", or a filter that is malformed or needs more than
// num.MaxDecimals decimals, is an error wrapping ErrUnknownInstrument,
// ErrInstrumentNotLive or ErrFilterScale.
func FetchInstruments(ctx context.Context, hc *http.Client, restURL, venue string, want []exchange.Instrument) ([]exchange.Instrument, error) {
	u := strings.TrimRight(restURL, "/") + InstrumentsPath + "?instType=SPOT"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("okx: instruments request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &exchange.Error{Kind: exchange.KindRetryable, Venue: venue, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRESTBody+1))
	if err != nil {
		return nil, &exchange.Error{Kind: exchange.KindRetryable, Venue: venue, HTTPStatus: resp.StatusCode, Err: err}
	}
	if len(body) > maxRESTBody {
		return nil, &exchange.Error{Kind: exchange.KindUnknown, Venue: venue, HTTPStatus: resp.StatusCode, Msg: "reply exceeds 32 MiB"}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(venue, resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	return ParseInstruments(body, venue, want)
}

// fields is one JSON object decoded with its keys matched exactly
// (encoding/json's struct decoding folds case, which could confuse keys).
type fields map[string]json.RawMessage

// str returns the string member k, or "" if absent or not a string.
func (f fields) str(k string) string {
	var s string
	if raw, ok := f[k]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// ParseInstruments parses an instruments reply (see FetchInstruments).
func ParseInstruments(body []byte, venue string, want []exchange.Instrument) ([]exchange.Instrument, error) {
	var env fields
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, &exchange.Error{Kind: exchange.KindUnknown, Venue: venue, Msg: "malformed instruments reply", Err: err}
	}
	if code := env.str("code"); code != "0" {
		return nil, &exchange.Error{Kind: classify(http.StatusOK, code), Venue: venue, Code: code, Msg: env.str("msg")}
	}
	var rows []fields
	if err := json.Unmarshal(env["data"], &rows); err != nil {
		return nil, &exchange.Error{Kind: exchange.KindUnknown, Venue: venue, Msg: "malformed instruments data", Err: err}
	}
	byID := make(map[string]fields, len(rows))
	for _, r := range rows {
		byID[r.str("instId")] = r // a repeated instId: the last one wins
	}
	out := make([]exchange.Instrument, len(want))
	var errs []error
	for i, w := range want {
		out[i] = w
		r, ok := byID[w.Symbol]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s", ErrUnknownInstrument, w.Symbol))
			continue
		}
		if st := r.str("state"); st != "live" {
			errs = append(errs, fmt.Errorf("%w: %s is %q", ErrInstrumentNotLive, w.Symbol, st))
			continue
		}
		tickSz, lotSz, minSz := r.str("tickSz"), r.str("lotSz"), r.str("minSz")
		// OKX's prices are on tickSz and its sizes on lotSz: widen the
		// scale to hold them (see FetchInstruments).
		sc := w.Scale
		sc.Px = max(sc.Px, num.FracDigits(tickSz))
		sc.Qty = max(sc.Qty, num.FracDigits(lotSz), num.FracDigits(minSz))
		if !sc.Valid() {
			errs = append(errs, fmt.Errorf("%w: %s tickSz %q lotSz %q minSz %q need more than %d decimals",
				ErrFilterScale, w.Symbol, tickSz, lotSz, minSz, num.MaxDecimals))
			continue
		}
		tick, err1 := positive(tickSz, sc.Px)
		step, err2 := positive(lotSz, sc.Qty)
		minQty, err3 := num.ParseString(minSz, sc.Qty)
		if err := errors.Join(err1, err2, err3); err != nil || minQty < 0 {
			errs = append(errs, fmt.Errorf("%w: %s tickSz %q lotSz %q minSz %q in scale %+v: %v",
				ErrFilterScale, w.Symbol, tickSz, lotSz, minSz, sc, err))
			continue
		}
		out[i].Scale = sc
		out[i].Tick, out[i].Step, out[i].MinQty, out[i].MinNotional = num.Price(tick), num.Qty(step), num.Qty(minQty), 0
		if out[i].Base == "" {
			out[i].Base = r.str("baseCcy")
		}
		if out[i].Quote == "" {
			out[i].Quote = r.str("quoteCcy")
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

var errNotPositive = errors.New("must be positive")

func positive(s string, dec uint8) (int64, error) {
	v, err := num.ParseString(s, dec)
	if err != nil {
		return 0, err
	}
	if v <= 0 {
		return 0, errNotPositive
	}
	return v, nil
}

// apiError classifies a non-200 reply, reading OKX's code and msg if the
// body carries them.
func apiError(venue string, status int, retryAfter string, body []byte) *exchange.Error {
	var env fields
	_ = json.Unmarshal(body, &env) // a proxy's HTML error page has no code
	code := env.str("code")
	e := &exchange.Error{Kind: classify(status, code), Venue: venue, HTTPStatus: status, Code: code, Msg: env.str("msg")}
	if s, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// classify maps an OKX error code (and HTTP status) to an ErrorKind, for
// idempotent reads. Sources: OKX v5 "Error Code" tables — 50011 "Rate limit
// reached" (HTTP 429), 50061 "Sub-account rate limit reached"; 50001
// "Service temporarily unavailable", 50004 "API endpoint request timeout",
// 50013 "System is busy", 50026 "System error"; 50100–50119 are the
// authentication codes (API frozen, key/environment mismatch, expired or
// invalid timestamp, empty or wrong OK-ACCESS-* headers, IP not whitelisted,
// invalid signature, …, all HTTP 401). Order placement (not implemented
// here) must treat 50004 and 5xx as KindUnknownOutcome instead.
func classify(status int, code string) exchange.ErrorKind {
	switch code {
	case "50011", "50061":
		return exchange.KindRateLimited
	case "50001", "50004", "50013", "50026":
		return exchange.KindRetryable
	}
	if n, err := strconv.Atoi(code); err == nil && n >= 50100 && n <= 50119 {
		return exchange.KindAuth
	}
	switch {
	case status == http.StatusTooManyRequests:
		return exchange.KindRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return exchange.KindAuth
	case status >= 500:
		return exchange.KindRetryable
	case code != "" && code != "0":
		return exchange.KindRejected
	}
	return exchange.KindUnknown
}

package binance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// maxRetryAfter caps a Retry-After value: Binance's longest documented IP
// ban is 3 days; anything longer is treated as that.
const maxRetryAfter = 72 * time.Hour

// maxInfoBytes caps an exchangeInfo response.
const maxInfoBytes = 32 << 20

// ClassifyError turns a non-2xx Binance REST response into a classified
// *exchange.Error. status is the HTTP status, retryAfter the Retry-After
// header (seconds), body the response ({"code":-1121,"msg":"Invalid
// symbol."} or anything else, e.g. a WAF page). The kinds follow
// rest-api.md: 429 and 418 (IP ban) and code -1003/-1015 are rate limits
// carrying Retry-After; a 5XX means the outcome is unknown (the request may
// have been executed); 401 and -1022/-2014/-2015 are auth; -1021 (timestamp
// outside recvWindow) and -1001 (internal, not processed) are retryable;
// -1006/-1007 and 409 are unknown outcomes; other 4XX are rejections.
func ClassifyError(venue string, status int, retryAfter string, body []byte) *exchange.Error {
	e := &exchange.Error{Venue: venue, HTTPStatus: status, RetryAfter: parseRetryAfter(retryAfter)}
	var p struct {
		Code *int64 `json:"code"`
		Msg  string `json:"msg"`
	}
	code := int64(0)
	if json.Unmarshal(body, &p) == nil && p.Code != nil {
		code = *p.Code
		e.Code = strconv.FormatInt(code, 10)
		e.Msg = p.Msg
	} else if len(body) > 0 {
		e.Msg = excerpt(bytes.TrimSpace(body))
	}
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusTeapot || code == -1003 || code == -1015:
		e.Kind = exchange.KindRateLimited
	case status >= 500:
		e.Kind = exchange.KindUnknownOutcome
	case status == http.StatusUnauthorized || code == -1022 || code == -2014 || code == -2015:
		e.Kind = exchange.KindAuth
	case code == -1021 || code == -1001:
		e.Kind = exchange.KindRetryable
	case code == -1006 || code == -1007 || status == http.StatusConflict:
		e.Kind = exchange.KindUnknownOutcome
	case status >= 400:
		e.Kind = exchange.KindRejected
	default:
		e.Kind = exchange.KindUnknown
	}
	return e
}

// parseRetryAfter reads Retry-After as whole seconds (as Binance sends it);
// anything else yields 0 (unknown).
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	d := time.Duration(n) * time.Second
	if n > int64(maxRetryAfter/time.Second) {
		d = maxRetryAfter
	}
	return d
}

// get performs one GET and returns the body of a 200 response (at most max
// bytes), or a classified error.
func get(ctx context.Context, client *http.Client, venue, u string, max int) ([]byte, error) {
	body, _, err := getWeighed(ctx, client, venue, u, max)
	return body, err
}

// getWeighed is get that also returns the request weight Binance reports
// this IP has used in the current minute (X-MBX-USED-WEIGHT-1M, on success
// and on errors; 0 when absent or malformed).
func getWeighed(ctx context.Context, client *http.Client, venue, u string, max int) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, &exchange.Error{Kind: exchange.KindRetryable, Venue: venue, Err: err}
	}
	defer resp.Body.Close()
	used, err := strconv.Atoi(resp.Header.Get("X-Mbx-Used-Weight-1m"))
	if err != nil || used < 0 {
		used = 0
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		return nil, used, &exchange.Error{Kind: exchange.KindRetryable, Venue: venue, HTTPStatus: resp.StatusCode, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, used, ClassifyError(venue, resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if len(body) > max {
		return nil, used, &exchange.Error{Kind: exchange.KindUnknown, Venue: venue, HTTPStatus: resp.StatusCode,
			Msg: fmt.Sprintf("response over %d bytes", max)}
	}
	return body, used, nil
}

// depthURL is the REST snapshot request of one symbol.
func depthURL(restURL, symbol string, limit int) string {
	return strings.TrimRight(restURL, "/") + "/api/v3/depth?symbol=" + url.QueryEscape(symbol) + "&limit=" + strconv.Itoa(limit)
}

// FetchInstruments reads GET /api/v3/exchangeInfo for the instruments in
// want (Symbol = Binance symbol; ID, Scale and names canonical) and returns
// them with their filters filled in (see ParseInstruments). Request weight 20.
func FetchInstruments(ctx context.Context, client *http.Client, restURL, venue string, want []exchange.Instrument) ([]exchange.Instrument, error) {
	syms := make([]string, len(want))
	for i := range want {
		syms[i] = want[i].Symbol
	}
	list, err := json.Marshal(syms)
	if err != nil {
		return nil, err
	}
	u := strings.TrimRight(restURL, "/") + "/api/v3/exchangeInfo?symbols=" + url.QueryEscape(string(list))
	body, err := get(ctx, client, venue, u, maxInfoBytes)
	if err != nil {
		return nil, fmt.Errorf("binance: exchangeInfo: %w", err)
	}
	return ParseInstruments(body, want)
}

// ParseInstruments reads an exchangeInfo response and returns a copy of want
// with Tick (PRICE_FILTER tickSize), Step and MinQty (LOT_SIZE stepSize,
// minQty) and MinNotional (NOTIONAL minNotional, else MIN_NOTIONAL) set;
// Base and Quote are filled from baseAsset/quoteAsset when empty. A value
// of 0 means the filter is disabled (Binance's rule) and stays 0.
//
// Scale: each returned instrument's Scale is want's, widened where needed
// to hold every number Binance sends for the symbol. Binance prints every
// price of a symbol with quoteAssetPrecision decimals and every quantity
// with baseAssetPrecision (its matching engine's resolution), and a book
// may hold levels off today's tick and step — orders placed before a
// tick-size change stay where they were (the captured NKNUSDT session has
// 68 such levels in 1609). A scale taken from the filters would refuse
// those snapshots as a whole, so the scale is widened to those precisions
// (quotePrecision when quoteAssetPrecision is absent; without either, the
// printed width of tickSize and stepSize, which Binance prints at the same
// precision), and to any finer filter value. The caller (the wiring) gives
// every venue quoting the instrument the widest scale any of them needs.
//
// It fails if a wanted symbol is missing, or a filter or precision value
// is malformed. Keys are matched exactly. Symbol status is not checked.
func ParseInstruments(body []byte, want []exchange.Instrument) ([]exchange.Instrument, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("binance: exchangeInfo: %w", err)
	}
	var symbols []map[string]json.RawMessage
	if raw, ok := top["symbols"]; ok {
		if err := json.Unmarshal(raw, &symbols); err != nil {
			return nil, fmt.Errorf("binance: exchangeInfo: symbols: %w", err)
		}
	}
	bySym := make(map[string]map[string]json.RawMessage, len(symbols))
	for _, s := range symbols {
		var name string
		if raw, ok := s["symbol"]; ok && json.Unmarshal(raw, &name) == nil {
			bySym[name] = s
		}
	}
	out := make([]exchange.Instrument, len(want))
	var errs []error
	for i, in := range want {
		s, ok := bySym[in.Symbol]
		if !ok {
			errs = append(errs, fmt.Errorf("binance: exchangeInfo: symbol %s not listed", in.Symbol))
			continue
		}
		if err := fillInstrument(&in, s); err != nil {
			errs = append(errs, fmt.Errorf("binance: exchangeInfo: %s: %w", in.Symbol, err))
			continue
		}
		out[i] = in
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func fillInstrument(in *exchange.Instrument, s map[string]json.RawMessage) error {
	str := func(m map[string]json.RawMessage, k string) (string, bool, error) {
		raw, ok := m[k]
		if !ok {
			return "", false, nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", true, fmt.Errorf("%s: %w", k, err)
		}
		return v, true, nil
	}
	if in.Base == "" {
		if v, ok, err := str(s, "baseAsset"); err != nil {
			return err
		} else if ok {
			in.Base = v
		}
	}
	if in.Quote == "" {
		if v, ok, err := str(s, "quoteAsset"); err != nil {
			return err
		} else if ok {
			in.Quote = v
		}
	}
	var filters []map[string]json.RawMessage
	if raw, ok := s["filters"]; ok {
		if err := json.Unmarshal(raw, &filters); err != nil {
			return fmt.Errorf("filters: %w", err)
		}
	}
	// First pass: the scale. Precisions as declared, else the printed
	// width of the grid; then whatever the filter values themselves need.
	pxPrec, hasPx, err := precision(s, "quoteAssetPrecision")
	if err == nil && !hasPx {
		pxPrec, hasPx, err = precision(s, "quotePrecision")
	}
	if err != nil {
		return err
	}
	qtyPrec, hasQty, err := precision(s, "baseAssetPrecision")
	if err != nil {
		return err
	}
	sc := in.Scale
	widen := func(d *uint8, v int) {
		if v > int(*d) {
			*d = uint8(v)
		}
	}
	if hasPx {
		widen(&sc.Px, pxPrec)
	}
	if hasQty {
		widen(&sc.Qty, qtyPrec)
	}
	for _, f := range filters {
		typ, _, err := str(f, "filterType")
		if err != nil {
			return err
		}
		type key struct {
			name string
			px   bool // a price-scale value (else quantity)
		}
		var keys []key
		switch typ {
		case "PRICE_FILTER":
			keys = []key{{"tickSize", true}}
		case "LOT_SIZE":
			keys = []key{{"stepSize", false}, {"minQty", false}}
		case "NOTIONAL", "MIN_NOTIONAL":
			keys = []key{{"minNotional", true}}
		}
		for _, k := range keys {
			v, ok, err := str(f, k.name)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			printed, significant := decimalsOf(v)
			d, declared := &sc.Qty, hasQty
			if k.px {
				d, declared = &sc.Px, hasPx
			}
			if !declared && (k.name == "tickSize" || k.name == "stepSize") {
				significant = printed
			}
			if significant > num.MaxDecimals {
				return fmt.Errorf("%s.%s %q has more than %d decimals", typ, k.name, v, num.MaxDecimals)
			}
			widen(d, significant)
		}
	}
	in.Scale = sc
	// value parses a filter value in dec decimals, naming it in errors.
	value := func(f map[string]json.RawMessage, typ, k string, dec uint8) (int64, error) {
		v, ok, err := str(f, k)
		if err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%s.%s missing", typ, k)
			}
			return 0, err
		}
		x, err := num.ParseUnsigned([]byte(v), dec)
		if err != nil {
			return 0, fmt.Errorf("%s.%s %q: %w", typ, k, v, err)
		}
		return x, nil
	}
	in.Tick, in.Step, in.MinQty, in.MinNotional = 0, 0, 0, 0
	haveNotional := false
	for _, f := range filters {
		typ, _, err := str(f, "filterType")
		if err != nil {
			return err
		}
		switch typ {
		case "PRICE_FILTER":
			v, err := value(f, typ, "tickSize", in.Scale.Px)
			if err != nil {
				return err
			}
			in.Tick = num.Price(v)
		case "LOT_SIZE":
			step, err := value(f, typ, "stepSize", in.Scale.Qty)
			if err != nil {
				return err
			}
			minQty, err := value(f, typ, "minQty", in.Scale.Qty)
			if err != nil {
				return err
			}
			in.Step, in.MinQty = num.Qty(step), num.Qty(minQty)
		case "NOTIONAL", "MIN_NOTIONAL":
			v, err := value(f, typ, "minNotional", in.Scale.Px)
			if err != nil {
				return err
			}
			if typ == "NOTIONAL" || !haveNotional {
				in.MinNotional = num.Quote(v)
			}
			haveNotional = haveNotional || typ == "NOTIONAL"
		}
	}
	return nil
}

// precision reads an exchangeInfo precision field (a JSON integer, 0..18).
func precision(s map[string]json.RawMessage, key string) (int, bool, error) {
	raw, ok := s[key]
	if !ok {
		return 0, false, nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 || v > num.MaxDecimals {
		return 0, true, fmt.Errorf("%s %s: not an integer in 0..%d", key, excerpt(raw), num.MaxDecimals)
	}
	return v, true, nil
}

// decimalsOf returns how many fraction digits a plain decimal string
// prints, and how many of them are significant (trailing zeros dropped).
// Anything that is not a plain decimal yields 0, 0: the parse that follows
// refuses it with its own error.
func decimalsOf(v string) (printed, significant int) {
	i := strings.IndexByte(v, '.')
	if i < 0 {
		return 0, 0
	}
	f := v[i+1:]
	for _, c := range []byte(f) {
		if c < '0' || c > '9' {
			return 0, 0
		}
	}
	return len(f), len(strings.TrimRight(f, "0"))
}

package bybit

import (
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

// instrumentsPath is the spot instruments endpoint (docs/v5/market/instrument.mdx).
const instrumentsPath = "/v5/market/instruments-info?category=spot"

// Caps on the instruments fetch.
const (
	maxBody  = 16 << 20 // bytes of one response
	maxPages = 32       // cursor pages followed (spot answers in one page)
)

// rateLimitWait is how long Bybit asks clients to stop after an HTTP 403
// "access too frequent" (docs/v5/rate-limit: "wait for at least 10 minutes").
const rateLimitWait = 10 * time.Minute

// FetchInstruments fetches the spot instruments of f's configuration (see
// the package function FetchInstruments).
func (f *Feed) FetchInstruments(ctx context.Context) ([]exchange.Instrument, error) {
	return FetchInstruments(ctx, f.cfg.HTTPClient, f.cfg.RESTURL, f.cfg.Name, f.cfg.Instruments)
}

// FetchInstruments GETs restURL + /v5/market/instruments-info?category=spot
// and returns want with each instrument's filters filled: Tick =
// priceFilter.tickSize, Step = lotSizeFilter.basePrecision, MinQty =
// minOrderQty, MinNotional = minOrderAmt. want gives Symbol (Bybit's), ID,
// Scale and the other identity fields; each Scale is widened where needed
// to hold those values — Bybit prices its book on tickSize and sizes it on
// basePrecision, so the widened scale holds every level it sends (the
// wiring then gives every venue of the instrument the widest scale any of
// them needs). Errors are *exchange.Error for venue answers (rate limits,
// retCode ≠ 0) and plain errors for instruments that are missing, not
// trading, or whose filters are malformed or need more than
// num.MaxDecimals decimals.
func FetchInstruments(ctx context.Context, client *http.Client, restURL, venue string, want []exchange.Instrument) ([]exchange.Instrument, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	base := strings.TrimRight(restURL, "/") + instrumentsPath
	var all []instrumentInfo
	cursor := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("bybit: instruments: more than %d pages", maxPages)
		}
		u := base
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		body, h, err := get(ctx, client, u, venue)
		if err != nil {
			return nil, err
		}
		p, err := parseInstrumentsPage(body)
		if err != nil {
			return nil, err
		}
		if p.RetCode != 0 {
			return nil, classify(venue, http.StatusOK, p.RetCode, p.RetMsg, h, time.Now())
		}
		all = append(all, p.Result.List...)
		if cursor = p.Result.NextPageCursor; cursor == "" {
			break
		}
	}
	return fillInstruments(all, want)
}

// get performs one GET and returns the body and headers of a 200 answer
// (which may still carry a retCode), or a classified *exchange.Error.
func get(ctx context.Context, client *http.Client, u, venue string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("bybit: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, &exchange.Error{Kind: exchange.KindRetryable, Venue: venue, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, &exchange.Error{Kind: exchange.KindRetryable, Venue: venue, HTTPStatus: resp.StatusCode, Err: err}
	}
	if len(body) > maxBody {
		return nil, nil, &exchange.Error{Kind: exchange.KindUnknown, Venue: venue, HTTPStatus: resp.StatusCode, Msg: "response over 16 MiB"}
	}
	if resp.StatusCode != http.StatusOK {
		// A non-200 may still carry a JSON retCode/retMsg.
		var e struct {
			RetCode int64  `json:"retCode"`
			RetMsg  string `json:"retMsg"`
		}
		_ = json.Unmarshal(body, &e)
		msg := e.RetMsg
		if msg == "" {
			msg = strings.TrimSpace(string(body[:min(len(body), 200)]))
		}
		return nil, nil, classify(venue, resp.StatusCode, e.RetCode, msg, resp.Header, time.Now())
	}
	return body, resp.Header, nil
}

// classify turns a Bybit answer into a classified error. Codes follow
// docs/v5/error.mdx: 10003 invalid API key, 10004 signature error, 10005
// permission denied, 10007 not logged in, 10008 user banned, 10009 IP
// banned, 10010 IP not bound to the key (auth); 10006 too many visits (API
// rate limit) and 10018 IP rate limit (rate limited); 10002 request outside
// the recv_window and 10016 internal error (retryable: a read, or a request
// refused before it was accepted); 10001 parameter error and 10017 route
// not found (rejected). HTTP 403 is the IP limit ("access too frequent"),
// which Bybit asks to respect for at least 10 minutes.
func classify(venue string, status int, code int64, msg string, h http.Header, now time.Time) *exchange.Error {
	e := &exchange.Error{Venue: venue, HTTPStatus: status, Msg: msg}
	if status == http.StatusOK {
		e.HTTPStatus = 0
	}
	if code != 0 {
		e.Code = strconv.FormatInt(code, 10)
	}
	switch {
	case status == http.StatusForbidden:
		e.Kind, e.RetryAfter = exchange.KindRateLimited, rateLimitWait
		return e
	case status == http.StatusTooManyRequests:
		e.Kind = exchange.KindRateLimited
	case status == http.StatusUnauthorized:
		e.Kind = exchange.KindAuth
	case status >= 500:
		e.Kind = exchange.KindRetryable
	}
	switch code {
	case 10003, 10004, 10005, 10007, 10008, 10009, 10010:
		e.Kind = exchange.KindAuth
	case 10006, 10018:
		e.Kind = exchange.KindRateLimited
	case 10002, 10016:
		e.Kind = exchange.KindRetryable
	case 10001, 10017:
		e.Kind = exchange.KindRejected
	}
	if e.Kind == exchange.KindRateLimited && e.RetryAfter == 0 {
		e.RetryAfter = retryAfter(h, now)
	}
	return e
}

// retryAfter reads X-Bapi-Limit-Reset-Timestamp (ms) or Retry-After (s).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v, err := strconv.ParseInt(h.Get("X-Bapi-Limit-Reset-Timestamp"), 10, 64); err == nil {
		if d := time.UnixMilli(v).Sub(now); d > 0 {
			return d
		}
	}
	if v, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 0
}

// instrumentsPage is one decoded instruments-info answer.
type instrumentsPage struct {
	RetCode int64  `json:"retCode"`
	RetMsg  string `json:"retMsg"`
	Result  struct {
		Category       string           `json:"category"`
		List           []instrumentInfo `json:"list"`
		NextPageCursor string           `json:"nextPageCursor"`
	} `json:"result"`
}

type instrumentInfo struct {
	Symbol        string `json:"symbol"`
	BaseCoin      string `json:"baseCoin"`
	QuoteCoin     string `json:"quoteCoin"`
	Status        string `json:"status"`
	LotSizeFilter struct {
		BasePrecision string `json:"basePrecision"`
		MinOrderQty   string `json:"minOrderQty"`
		MinOrderAmt   string `json:"minOrderAmt"`
	} `json:"lotSizeFilter"`
	PriceFilter struct {
		TickSize string `json:"tickSize"`
	} `json:"priceFilter"`
}

// ParseInstruments decodes one instruments-info answer (a single page, as
// Bybit spot sends) and returns want with its filters, as FetchInstruments
// does; a retCode ≠ 0 is a classified *exchange.Error.
func ParseInstruments(body []byte, venue string, want []exchange.Instrument) ([]exchange.Instrument, error) {
	p, err := parseInstrumentsPage(body)
	if err != nil {
		return nil, err
	}
	if p.RetCode != 0 {
		return nil, classify(venue, http.StatusOK, p.RetCode, p.RetMsg, nil, time.Now())
	}
	return fillInstruments(p.Result.List, want)
}

// parseInstrumentsPage decodes an instruments-info body. It checks the shape
// (retCode present, category spot) but not the values.
func parseInstrumentsPage(body []byte) (*instrumentsPage, error) {
	var probe struct {
		RetCode *int64          `json:"retCode"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("bybit: instruments: %w", err)
	}
	if probe.RetCode == nil {
		return nil, errors.New("bybit: instruments: no retCode")
	}
	var p instrumentsPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("bybit: instruments: %w", err)
	}
	if p.RetCode == 0 && p.Result.Category != "" && p.Result.Category != "spot" {
		return nil, fmt.Errorf("bybit: instruments: category %q, want spot", p.Result.Category)
	}
	return &p, nil
}

// fillInstruments returns want with filters from list.
func fillInstruments(list []instrumentInfo, want []exchange.Instrument) ([]exchange.Instrument, error) {
	bySym := make(map[string]*instrumentInfo, len(list))
	for i := range list {
		bySym[list[i].Symbol] = &list[i]
	}
	out := make([]exchange.Instrument, len(want))
	var errs []error
	for k, w := range want {
		out[k] = w
		info := bySym[w.Symbol]
		if info == nil {
			errs = append(errs, fmt.Errorf("bybit: instrument %s: not listed", w.Symbol))
			continue
		}
		if info.Status != "Trading" {
			errs = append(errs, fmt.Errorf("bybit: instrument %s: status %q, not Trading", w.Symbol, info.Status))
			continue
		}
		o := &out[k]
		if o.Base == "" {
			o.Base = info.BaseCoin
		}
		if o.Quote == "" {
			o.Quote = info.QuoteCoin
		}
		// Bybit prices its book on tickSize and sizes it on basePrecision:
		// widen the scale to hold them (see FetchInstruments).
		sc := w.Scale
		sc.Px = max(sc.Px, num.FracDigits(info.PriceFilter.TickSize), num.FracDigits(info.LotSizeFilter.MinOrderAmt))
		sc.Qty = max(sc.Qty, num.FracDigits(info.LotSizeFilter.BasePrecision), num.FracDigits(info.LotSizeFilter.MinOrderQty))
		if !sc.Valid() {
			errs = append(errs, fmt.Errorf("bybit: instrument %s: a filter needs more than %d decimals", w.Symbol, num.MaxDecimals))
			continue
		}
		o.Scale = sc
		var err error
		var v int64
		if v, err = filter(info.PriceFilter.TickSize, sc.Px, true); err != nil {
			errs = append(errs, fmt.Errorf("bybit: instrument %s: tickSize: %w", w.Symbol, err))
		}
		o.Tick = num.Price(v)
		if v, err = filter(info.LotSizeFilter.BasePrecision, sc.Qty, true); err != nil {
			errs = append(errs, fmt.Errorf("bybit: instrument %s: basePrecision: %w", w.Symbol, err))
		}
		o.Step = num.Qty(v)
		if v, err = filter(info.LotSizeFilter.MinOrderQty, sc.Qty, false); err != nil {
			errs = append(errs, fmt.Errorf("bybit: instrument %s: minOrderQty: %w", w.Symbol, err))
		}
		o.MinQty = num.Qty(v)
		if v, err = filter(info.LotSizeFilter.MinOrderAmt, sc.Px, false); err != nil {
			errs = append(errs, fmt.Errorf("bybit: instrument %s: minOrderAmt: %w", w.Symbol, err))
		}
		o.MinNotional = num.Quote(v)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// filter parses one filter value in dec decimals. Empty means none (0),
// except where required. A value finer than the scale is an error: the
// instrument's Scale cannot express the venue's grid.
func filter(s string, dec uint8, required bool) (int64, error) {
	if s == "" {
		if required {
			return 0, errors.New("missing")
		}
		return 0, nil
	}
	v, err := num.ParseString(s, dec)
	if err != nil {
		if errors.Is(err, num.ErrPrecision) {
			return 0, fmt.Errorf("%q needs more than %d decimals (the instrument's Scale)", s, dec)
		}
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if v < 0 || (required && v == 0) {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return v, nil
}

package jsonlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"arb/exchange"
	"arb/strategy/execute"
)

// Keys the handler reads or writes.
const (
	// KeyTrade is the trade id's key (strategy/execute's log lines use it).
	KeyTrade = "trade"
	// KeyClientOrderID is the key of a client order id.
	KeyClientOrderID = "client_order_id"
)

// reserved reports whether slog.JSONHandler writes key itself: time,
// level and msg, and source when it adds the caller's position.
func (h *Handler) reserved(key string) bool {
	switch key {
	case slog.TimeKey, slog.LevelKey, slog.MessageKey:
		return true
	case slog.SourceKey:
		return h.addSource
	}
	return false
}

// Handler is a slog.Handler writing JSON lines with unique keys (see the
// package comment). It is safe for concurrent use, as the JSONHandler it
// writes through is.
type Handler struct {
	inner  slog.Handler
	attrs  []slog.Attr // the With attributes so far, groups nested as Group attributes
	groups []string    // the open groups, outermost first
	prefix string      // client order id prefix of this daemon's orders

	addSource bool // the JSONHandler writes "source" itself
}

var _ slog.Handler = (*Handler)(nil)

// New returns a handler writing to w with opts (as slog.NewJSONHandler);
// prefix is the client order id prefix (execution.prefix) whose order ids
// give their trade id.
func New(w io.Writer, opts *slog.HandlerOptions, prefix string) *Handler {
	h := &Handler{inner: slog.NewJSONHandler(w, opts), prefix: prefix}
	h.addSource = opts != nil && opts.AddSource
	return h
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	h2.attrs = h.place(as)
	return &h2
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), name)
	return &h2
}

// place returns the handler's attributes with as added inside the open
// groups.
func (h *Handler) place(as []slog.Attr) []slog.Attr {
	out := slices.Clone(h.attrs)
	if len(h.groups) == 0 {
		return append(out, as...)
	}
	g := slog.Attr{Key: h.groups[len(h.groups)-1], Value: slog.GroupValue(as...)}
	for i := len(h.groups) - 2; i >= 0; i-- {
		g = slog.Attr{Key: h.groups[i], Value: slog.GroupValue(g)}
	}
	return append(out, g)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	rec := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { rec = append(rec, a); return true })
	all := unique(h.place(rec))
	for i := range all {
		if h.reserved(all[i].Key) {
			all[i].Key = "attr_" + all[i].Key
		}
	}
	all = unique(all) // a renamed key may meet one of its new name
	all = h.addTrade(all)
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(all...)
	return h.inner.Handle(ctx, nr)
}

// addTrade adds the trade id of a client order id of this daemon's when
// the line has none.
func (h *Handler) addTrade(as []slog.Attr) []slog.Attr {
	if h.prefix == "" {
		return as
	}
	var cid string
	for _, a := range as {
		switch a.Key {
		case KeyTrade:
			return as
		case KeyClientOrderID:
			switch a.Value.Kind() {
			case slog.KindString:
				cid = a.Value.String()
			case slog.KindAny:
				if s, ok := a.Value.Any().(fmt.Stringer); ok {
					cid = s.String()
				}
			}
		}
	}
	if cid == "" {
		return as
	}
	id, ok := exchange.IDFromBytes([]byte(cid))
	if !ok {
		return as
	}
	tid, _, ok := execute.ParseClientID(h.prefix, &id)
	if !ok {
		return as
	}
	return append(as, slog.String(KeyTrade, tid.String()))
}

// unique returns as with each key once: a later attribute replaces an
// earlier one of its key in the earlier one's place, two groups of one key
// merge, groups with an empty key are inlined, empty attributes and empty
// groups are dropped (as slog does), and LogValuers are resolved.
func unique(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(as))
	at := make(map[string]int, len(as))
	var add func(a slog.Attr)
	add = func(a slog.Attr) {
		a.Value = a.Value.Resolve()
		if a.Value.Kind() == slog.KindGroup {
			g := a.Value.Group()
			if a.Key == "" {
				for _, x := range g {
					add(x)
				}
				return
			}
			if len(g) == 0 {
				return
			}
		}
		if a.Equal(slog.Attr{}) {
			return
		}
		i, seen := at[a.Key]
		if !seen {
			at[a.Key] = len(out)
			out = append(out, a)
			return
		}
		if out[i].Value.Kind() == slog.KindGroup && a.Value.Kind() == slog.KindGroup {
			merged := append(slices.Clone(out[i].Value.Group()), a.Value.Group()...)
			out[i].Value = slog.GroupValue(merged...)
			return
		}
		out[i] = a
	}
	for _, a := range as {
		add(a)
	}
	for i := range out {
		if out[i].Value.Kind() == slog.KindGroup {
			out[i].Value = slog.GroupValue(unique(out[i].Value.Group())...)
		}
	}
	return out
}

// ErrDuplicateKey is returned by CheckLine for an object with a key twice.
var ErrDuplicateKey = errors.New("jsonlog: duplicate key")

// CheckLine verifies that line is one JSON object in which no object, at
// any depth, has a key twice (what a log reader may rely on). The error
// names the key.
func CheckLine(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("jsonlog: not a JSON object")
	}
	if err := checkObject(dec); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("jsonlog: more than one value on the line")
	}
	return nil
}

// checkObject reads an object's members after its '{', through its '}'.
func checkObject(dec *json.Decoder) error {
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		if seen[k] {
			return fmt.Errorf("%w %q", ErrDuplicateKey, k)
		}
		seen[k] = true
		if err := checkValue(dec); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func checkValue(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := t.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return checkObject(dec)
	case '[':
		for dec.More() {
			if err := checkValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

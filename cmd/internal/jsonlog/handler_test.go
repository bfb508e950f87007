package jsonlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"arb/exchange"
	"arb/strategy/execute"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if err := CheckLine([]byte(l)); err != nil {
			t.Errorf("%v: %s", err, l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

// TestUniqueKeys: the ways slog would write a key twice each give it once,
// the innermost value winning.
func TestUniqueKeys(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(&buf, nil, "arb"))
	desk := log.With("component", "desk", "instance", "a")

	desk.With("component", "risk").Info("m", "component", "call", "k", 1, "k", 2)
	m := lines(t, &buf)[0]
	if m["component"] != "call" || m["k"] != 2.0 || m["instance"] != "a" {
		t.Errorf("%v", m)
	}

	log.Info("reserved", "msg", "x", "level", "y", "time", 3, "attr_msg", "z", "source", "rules.yaml")
	m = lines(t, &buf)[0]
	if m["msg"] != "reserved" || m["level"] != "INFO" || m["attr_msg"] != "z" || m["attr_level"] != "y" || m["attr_time"] != 3.0 ||
		m["source"] != "rules.yaml" {
		t.Errorf("%v", m)
	}
	// With the caller's position, "source" is the handler's.
	slog.New(New(&buf, &slog.HandlerOptions{AddSource: true}, "arb")).Info("src", "source", "rules.yaml")
	m = lines(t, &buf)[0]
	if _, ok := m["source"].(map[string]any); !ok || m["attr_source"] != "rules.yaml" {
		t.Errorf("%v", m)
	}

	g := log.WithGroup("g").With("a", 1)
	g.Info("groups", "a", 2, slog.Group("h", "x", 1), slog.Group("h", "x", 2, "y", 3), slog.Group("", "inl", 1), slog.Group("empty"))
	m = lines(t, &buf)[0]
	gm, _ := m["g"].(map[string]any)
	h, _ := gm["h"].(map[string]any)
	if gm["a"] != 2.0 || h["x"] != 2.0 || h["y"] != 3.0 || gm["inl"] != 1.0 || gm["empty"] != nil {
		t.Errorf("%v", m)
	}
	// Two With calls into one group and a top-level key of the group's name.
	log.With("g", "top").WithGroup("g").With("a", 1).Info("replace")
	if m = lines(t, &buf)[0]; m["g"] == nil {
		t.Errorf("%v", m)
	}
}

// TestTradeFromClientOrderID: a line about one of this daemon's orders
// carries its trade id; a line with a trade id keeps it; foreign ids add
// nothing.
func TestTradeFromClientOrderID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(&buf, nil, "arb"))
	tid := execute.TradeID(0x0000000700000003)
	cid := execute.ClientID("arb", tid, 1, execute.PurposeEntry, exchange.Sell)

	log.Warn("okx: in-flight table full", "client_order_id", cid.String())
	log.Warn("stringer", slog.Any("client_order_id", cid))
	log.Warn("own trade", "trade", "t0000000000000009", "client_order_id", cid.String())
	log.Warn("foreign", "client_order_id", "manual-123")
	log.Warn("other prefix", "client_order_id", strings.Replace(cid.String(), "arb", "xyz", 1))
	got := lines(t, &buf)
	want := []any{tid.String(), tid.String(), "t0000000000000009", nil, nil}
	for i, m := range got {
		if m["trade"] != want[i] {
			t.Errorf("%s: trade %v, want %v", m["msg"], m["trade"], want[i])
		}
	}
}

func TestCheckLine(t *testing.T) {
	for line, want := range map[string]error{
		`{"a":1,"b":{"a":2,"c":[{"a":1},{"a":2}]}}`: nil,
		`{"a":1,"a":2}`:                     ErrDuplicateKey,
		`{"a":{"b":1,"b":2}}`:               ErrDuplicateKey,
		`{"a":[{"b":1,"b":2}]}`:             ErrDuplicateKey,
		`{"a":"\u0062","a\u0062":1,"ab":2}`: ErrDuplicateKey,
	} {
		if err := CheckLine([]byte(line)); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", line, err, want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":1}{}`, `{"a":`, `"x"`} {
		if CheckLine([]byte(bad)) == nil {
			t.Errorf("%q passed", bad)
		}
	}
}

// FuzzCheckLine: any input is judged without a panic, and whatever the
// handler writes passes.
func FuzzCheckLine(f *testing.F) {
	f.Add(`{"a":1,"a":2}`, "k", "v")
	f.Add(`{"a":{"b":[1,{"c":2}]}}`, "msg", "x")
	f.Fuzz(func(t *testing.T, line, key, val string) {
		_ = CheckLine([]byte(line))
		var buf bytes.Buffer
		slog.New(New(&buf, nil, "arb")).With(key, val).Info(line, key, val, slog.Group(key, key, val))
		if err := CheckLine(bytes.TrimSpace(buf.Bytes())); err != nil {
			t.Fatalf("%v: %s", err, buf.Bytes())
		}
	})
}

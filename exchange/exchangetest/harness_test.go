package exchangetest

import (
	"strings"
	"testing"

	"arb/exchange"
	"arb/exchange/sim"
)

func TestHarnessValidate(t *testing.T) {
	newMD := func(Env) (exchange.MarketData, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		h    Harness
		want string // substring of the error; "" = valid
	}{
		{"minimal", Harness{Kind: sim.KindOKX, New: newMD}, ""},
		{"venue faults and skips", Harness{Kind: sim.KindBybit, New: newMD, Faults: []sim.FaultKind{sim.FaultRestart, sim.FaultSnapshot},
			Skip: map[string]string{"malformed": "r", "frozen": "r", "malformed/nan": "r", "restart": "r"}}, ""},
		{"unknown kind", Harness{Kind: "kraken", New: newMD}, "Harness.Kind"},
		{"no constructor", Harness{Kind: sim.KindOKX}, "Harness.New is nil"},
		{"negative depth", Harness{Kind: sim.KindOKX, New: newMD, Depth: -1}, "Depth"},
		{"fault of another venue", Harness{Kind: sim.KindBinance, New: newMD, Faults: []sim.FaultKind{sim.FaultChecksum}}, "not a fault specific to binance"},
		{"common fault listed", Harness{Kind: sim.KindOKX, New: newMD, Faults: []sim.FaultKind{sim.FaultGap}}, "not a fault specific to okx"},
		{"fault twice", Harness{Kind: sim.KindOKX, New: newMD, Faults: []sim.FaultKind{sim.FaultNotice, sim.FaultNotice}}, "twice"},
		{"skip of a missing subtest", Harness{Kind: sim.KindOKX, New: newMD, Skip: map[string]string{"restart": "r"}}, `"restart"`},
		{"skip typo", Harness{Kind: sim.KindOKX, New: newMD, Skip: map[string]string{"malformed/NaN": "r"}}, "names no subtest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCaseNames pins the subtest names adapters refer to in Skip.
func TestCaseNames(t *testing.T) {
	h := Harness{Kind: sim.KindOKX, Faults: []sim.FaultKind{sim.FaultChecksum, sim.FaultNotice}}
	var names []string
	for _, c := range h.cases() {
		if len(c.sub) == 0 {
			names = append(names, c.name)
		}
		for _, s := range c.sub {
			names = append(names, c.name+"/"+s.name)
		}
	}
	want := "fresh gap disconnect malformed/truncated malformed/wrong_type malformed/nan malformed/negative malformed/empty_price " +
		"frozen crossed unknown_symbol huge_frame checksum notice handover"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("subtests:\n got %s\nwant %s", got, want)
	}
}

func TestCaseSeed(t *testing.T) {
	if caseSeed(1, "gap") == caseSeed(1, "frozen") || caseSeed(1, "gap") == caseSeed(2, "gap") {
		t.Fatal("subtest seeds collide")
	}
	if caseSeed(7, "gap") != caseSeed(7, "gap") {
		t.Fatal("seed not deterministic")
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nname: bad\nrules:\n  - name: x\n    when: plan.qty > \"a\"\n    action: reject\n    message: m\n"), 0o600)
	sample := filepath.Join(dir, "sample.json")
	os.WriteFile(sample, []byte(`{"Plan":{"Qty":0,"Symbol":"BTC-USDT"}}`), 0o600)
	badSample := filepath.Join(dir, "bad.json")
	os.WriteFile(badSample, []byte(`{"Plan":{"Quantity":1}}`), 0o600)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"no args", nil, 2, nil, []string{"usage"}},
		{"unknown", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}},
		{"not yet", []string{"ledger"}, 2, nil, []string{`"ledger" is not implemented`}},
		{"backtest usage", []string{"backtest"}, 2, nil, []string{"usage:", "arb backtest --data"}},
		{"rules check default", []string{"rules", "check", "../../configs/rules.yaml"}, 0, []string{"21 rules, OK", "max_notional"}, nil},
		{"rules check bad", []string{"rules", "check", bad}, 1, nil, []string{"bad.yaml:5:", "mismatched types"}},
		{"rules check missing", []string{"rules", "check", filepath.Join(dir, "nope.yaml")}, 1, nil, []string{"nope.yaml"}},
		{"rules check sample", []string{"rules", "check", "../../configs/rules.yaml", "--sample", sample}, 0, []string{`re:qty_positive\s+reject line \d+\s+inline\s+FIRES: reject`}, nil},
		{"rules check bad sample", []string{"rules", "check", "../../configs/rules.yaml", "--sample", badSample}, 1, nil, []string{"Quantity"}},
		{"rules usage", []string{"rules"}, 2, nil, []string{"usage: arb rules check"}},
		{"version", []string{"version"}, 0, []string{"arb "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			for _, w := range tt.stdout {
				if re, ok := strings.CutPrefix(w, "re:"); ok {
					if !regexp.MustCompile(re).MatchString(out.String()) {
						t.Errorf("stdout does not match %s:\n%s", re, out.String())
					}
					continue
				}
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

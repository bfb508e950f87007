package risk

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the rules-file loader (YAML, limits and
// expressions through expr's parser and checker and the rule compiler). It
// must never panic; bad input must be a *LoadError; and a rule set that does
// load must evaluate without panicking on the sample and on a hostile input.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	seeds = append(seeds, "../configs/rules.yaml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("version: 1\nrules:\n  - {name: a, when: 'plan.qty > 1 ? true : false', action: reject, message: m}\n"))
	f.Add([]byte("version: 1\nrules:\n  - {name: a, when: '((((((((plan.qty))))))))) > 1', action: reject, message: m}\n"))
	f.Add([]byte("version: 1\nlimits: {a: 1e308, b: -9223372036854775808}\nrules:\n  - {name: a, when: limits.a * limits.a > limits.b, action: warn, message: m}\n"))
	venues := sampleVenues()
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := Load(src, "fuzz.yaml", Options{Venues: venues})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Issues) == 0 && le.Omitted == 0 {
				t.Fatalf("error %v is not a LoadError with issues", err)
			}
			return
		}
		if len(rs.rules) == 0 || len(rs.rules) > MaxRules {
			t.Fatalf("%d rules loaded", len(rs.rules))
		}
		e, _ := New(Config{Venues: venues})
		e.Swap(rs)
		in := DefaultSample()
		d := e.Evaluate(&in)
		if d.Verdict == 0 {
			t.Fatal("no verdict")
		}
		e.Resume("fuzz")
		hostile := DefaultSample()
		hostile.Plan.Qty, hostile.Buy.Price, hostile.Account.Equity = math.NaN(), 0, math.Inf(-1)
		hostile.Account.OpenTrades, hostile.Buy.Seq = math.MaxInt64, math.MinInt64
		d = e.Evaluate(&hostile)
		if d.Verdict == Allow && d.Err != nil {
			t.Fatal("an evaluation error allowed a plan")
		}
		if _, err := Check(src, "fuzz.yaml", DefaultSample()); err != nil {
			t.Fatalf("Check failed on a file that loads: %v", err)
		}
	})
}

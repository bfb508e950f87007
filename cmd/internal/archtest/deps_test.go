package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Deps       []string
	Standard   bool
}

// listAll returns every package of the module with its transitive
// (non-test) dependencies.
func listAll(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", "arb/...")
	cmd.Dir = "../../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

// rule says: packages under From may not depend on packages under any of Not.
type rule struct {
	from string
	not  []string
	why  string
}

var rules = []rule{
	{"arb/exchange", []string{"arb/strategy", "arb/risk", "arb/ledger", "arb/cmd"}, "adapters never import strategy, risk or ledger"},
	{"arb/strategy", []string{"arb/exchange/binance", "arb/exchange/okx", "arb/exchange/bybit", "arb/exchange/uniswap", "arb/exchange/sim",
		"github.com/nats-io", "github.com/jackc/pgx", "github.com/ethereum/go-ethereum", "arb/risk", "arb/ledger", "arb/cmd"},
		"strategy never imports a concrete venue, NATS, pgx or go-ethereum"},
	{"arb/risk", []string{"arb/ledger", "arb/strategy", "arb/cmd", "github.com/nats-io", "github.com/jackc/pgx"}, "risk and ledger never import each other; risk is pure"},
	{"arb/ledger", []string{"arb/risk", "arb/strategy", "arb/cmd", "github.com/nats-io", "github.com/jackc/pgx"},
		"risk and ledger never import each other; the ledger is pure (pgx only in ledger/pgstore, NATS only in cmd/internal/ledgerfeed)"},
	{"arb/ringbuf", []string{"arb/", "github.com/", "gopkg.in/"}, "ringbuf imports only the standard library"},
	{"arb/exchange/exchangetest", []string{"arb/exchange/binance", "arb/exchange/okx", "arb/exchange/bybit", "arb/exchange/uniswap"},
		"the conformance suite never imports a concrete adapter (adapters import it from their tests)"},
	{"arb/exchange/sim", []string{"arb/exchange/binance", "arb/exchange/okx", "arb/exchange/bybit", "arb/exchange/internal"},
		"the simulator is written from the venues' documentation, independently of the adapters"},
}

// vocabulary packages import only the standard library and num.
var stdlibOnly = map[string][]string{
	"arb/exchange":     {"arb/exchange/num"},
	"arb/exchange/num": nil,
}

func TestDependencyDirection(t *testing.T) {
	pkgs := listAll(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		for _, r := range rules {
			if !under(p.ImportPath, r.from) {
				continue
			}
			for _, d := range p.Deps {
				for _, bad := range r.not {
					if strings.HasPrefix(d, bad) {
						// ledger/pgstore may use pgx; only ledger's pure core is bound by that part of the rule.
						if r.from == "arb/ledger" && strings.HasPrefix(p.ImportPath, "arb/ledger/pgstore") && bad == "github.com/jackc/pgx" {
							continue
						}
						t.Errorf("%s depends on %s: %s", p.ImportPath, d, r.why)
					}
				}
			}
		}
		if allowed, ok := stdlibOnly[p.ImportPath]; ok {
			for _, d := range p.Deps {
				if !strings.Contains(strings.SplitN(d, "/", 2)[0], ".") && !strings.HasPrefix(d, "arb/") {
					continue // standard library
				}
				okDep := false
				for _, a := range allowed {
					if d == a {
						okDep = true
					}
				}
				if !okDep {
					t.Errorf("%s depends on %s: the vocabulary imports only the standard library", p.ImportPath, d)
				}
			}
		}
	}
}

// TestRuleCatchesViolation makes sure the checker is not vacuous: the rule
// table must flag a synthetic forbidden edge.
func TestRuleCatchesViolation(t *testing.T) {
	p := pkg{ImportPath: "arb/strategy/spread", Deps: []string{"arb/exchange/binance"}}
	hit := false
	for _, r := range rules {
		if under(p.ImportPath, r.from) {
			for _, d := range p.Deps {
				for _, bad := range r.not {
					if strings.HasPrefix(d, bad) {
						hit = true
					}
				}
			}
		}
	}
	if !hit {
		t.Fatal("rule table does not catch strategy -> binance")
	}
}

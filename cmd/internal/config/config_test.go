package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"arb/exchange/num"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestDefault is the golden test of the embedded default: it parses and
// validates with the wiring's kinds, describes the offline set-up the
// contract promises, and its decoded form is testdata/default.golden.json
// (refresh with -update and review the diff like code).
func TestDefault(t *testing.T) {
	for _, known := range []Known{kinds, {Kinds: kinds.Kinds, SimVenues: []string{"binance", "okx", "bybit"}}} {
		c, err := Parse(DefaultName, Default(), known)
		if err != nil {
			t.Fatalf("default config with %+v: %v", known, err)
		}
		checkDefault(t, c)
	}
	c, _ := Parse(DefaultName, Default(), kinds)
	got, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "default.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("decoded default differs from %s (run go test -update and review the diff):\n%s", golden, got)
	}
	// Default returns a copy: a caller cannot change the embedded file.
	d := Default()
	d[0] = 'X'
	if Default()[0] == 'X' {
		t.Error("Default() shares its bytes")
	}
}

func checkDefault(t *testing.T, c *Config) {
	t.Helper()
	if c.NATS.URL != "" || !c.Sim.Enabled || c.Postgres.DSN != "" {
		t.Errorf("not offline: nats %q sim %v pg %q", c.NATS.URL, c.Sim.Enabled, c.Postgres.DSN)
	}
	// It trades for real, against the simulated venues only: every venue is
	// sim:// and none is paper.
	for i, v := range c.Venues {
		if _, sim := v.SimName(); !sim || c.VenuePaper(i) {
			t.Errorf("venue %s: sim %v paper %v; the default trades the simulated venues through their clients", v.Name, sim, c.VenuePaper(i))
		}
	}
	if c.HTTP.Listen != "127.0.0.1:7420" {
		t.Errorf("http.listen = %q", c.HTTP.Listen)
	}
	// No directory in DefaultName: paths stay relative to the working
	// directory, the repository root under `go run ./cmd/arbd`.
	if c.DataDir != "data" || c.Risk.RulesFile != filepath.Join("configs", "rules.yaml") {
		t.Errorf("paths: data_dir %q rules_file %q", c.DataDir, c.Risk.RulesFile)
	}
	want := []SimVenue{{"binance", "binance"}, {"okx", "okx"}, {"bybit", "bybit"}}
	if got := c.SimVenues(); !reflect.DeepEqual(got, want) {
		t.Errorf("SimVenues() = %v, want %v", got, want)
	}
	var syms []string
	for _, in := range c.Instruments {
		syms = append(syms, in.Symbol)
	}
	if strings.Join(syms, ",") != "BTC-USDT,ETH-USDT,SOL-USDT" {
		t.Errorf("instruments %v", syms)
	}
	for _, v := range c.Venues {
		if v.TakerFeeBps != 10 || len(v.Symbols) != 3 || v.Balances["USDT"].String() != "100000" {
			t.Errorf("venue %s: fee %v symbols %v balances %v", v.Name, v.TakerFeeBps, v.Symbols, v.Balances)
		}
		if v.APIKeyEnv != "" || v.APISecretEnv != "" {
			t.Errorf("venue %s: a simulated venue names credentials", v.Name)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(validYAML(t), "data_dir: ./data", "data_dir: ../var/arb", 1)
	src = strings.Replace(src, `nats: {url: ""}`, `nats: {url: "nats://127.0.0.1:4222", credentials_file: arb.creds}`, 1)
	path := filepath.Join(sub, "arbd.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, kinds)
	if err != nil {
		t.Fatal(err)
	}
	// Relative paths resolve against the file's directory, not the
	// working directory.
	if c.DataDir != filepath.Join(dir, "var", "arb") || c.Risk.RulesFile != filepath.Join(sub, "rules.yaml") ||
		c.NATS.CredentialsFile != filepath.Join(sub, "arb.creds") {
		t.Errorf("paths: %q %q %q", c.DataDir, c.Risk.RulesFile, c.NATS.CredentialsFile)
	}
	if c.Source != path {
		t.Errorf("Source = %q", c.Source)
	}
	// Absolute paths are kept.
	abs := strings.Replace(src, "data_dir: ../var/arb", "data_dir: /srv/arb", 1)
	if err := os.WriteFile(path, []byte(abs), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(path, kinds); err != nil || c.DataDir != "/srv/arb" {
		t.Errorf("absolute data_dir: %v %v", c, err)
	}
	// A problem in the file names the path given.
	if err := os.WriteFile(path, []byte(strings.Replace(src, "kind: okx", "kind: kraken", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, kinds); err == nil || err.Error() != path+`:27: venues[1].kind: unknown venue kind "kraken" (want binance, okx, bybit)` {
		t.Errorf("err = %v", err)
	}
}

// TestLoadUnreadable: one line naming the file and the OS error.
func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#\n"), MaxFileBytes/2+1), 0o644); err != nil {
		t.Fatal(err)
	}
	noperm := filepath.Join(dir, "secret.yaml")
	if err := os.WriteFile(noperm, []byte("paper: true\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{dir, dir + ": is a directory"},
		{big, big + ": larger than 1048576 bytes"},
	}
	if os.Geteuid() != 0 { // root reads anything
		tests = append(tests, struct{ path, want string }{noperm, noperm + ": permission denied"})
	}
	for _, tt := range tests {
		_, err := Load(tt.path, kinds)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Load(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("from-file-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
		unset   bool // errors.Is(err, ErrSecretUnset)
	}{
		{"from the variable", map[string]string{"ARB_T_KEY": "env-value"}, "env-value", "", false},
		{"from the file, newline trimmed", map[string]string{"ARB_T_KEY_FILE": file}, "from-file-value", "", false},
		{"both set", map[string]string{"ARB_T_KEY": "env-value", "ARB_T_KEY_FILE": file}, "",
			"secret ARB_T_KEY: both ARB_T_KEY and ARB_T_KEY_FILE are set; set one", false},
		{"neither", nil, "", "secret ARB_T_KEY: set the environment variable ARB_T_KEY or ARB_T_KEY_FILE: secret is not set", true},
		{"empty variable", map[string]string{"ARB_T_KEY": ""}, "", "secret ARB_T_KEY: the environment variable is empty", false},
		{"empty file", map[string]string{"ARB_T_KEY_FILE": empty}, "", "secret ARB_T_KEY: ARB_T_KEY_FILE: " + empty + " is empty", false},
		{"missing file", map[string]string{"ARB_T_KEY_FILE": filepath.Join(dir, "nope")}, "",
			"secret ARB_T_KEY: ARB_T_KEY_FILE: open " + filepath.Join(dir, "nope") + ": no such file or directory", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unsetenv(t, "ARB_T_KEY")
			unsetenv(t, "ARB_T_KEY_FILE")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := Secret("ARB_T_KEY")
			if got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
			if (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrSecretUnset) != tt.unset {
				t.Errorf("errors.Is(err, ErrSecretUnset) = %v", !tt.unset)
			}
			if err != nil && (strings.Contains(err.Error(), "env-value") || strings.Contains(err.Error(), "from-file-value")) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
	if v, err := Secret(""); v != "" || err != nil {
		t.Errorf(`Secret("") = %q, %v`, v, err)
	}
}

// unsetenv removes an environment variable for the test, restoring it after.
func unsetenv(t *testing.T, name string) {
	t.Setenv(name, "") // registers the restore
	os.Unsetenv(name)
}

func TestEffectiveDSN(t *testing.T) {
	unsetenv(t, EnvPGDSN)
	unsetenv(t, EnvPGDSN+"_FILE")
	if dsn, err := (Postgres{}).EffectiveDSN(); dsn != "" || err != nil {
		t.Errorf("neither: %q %v", dsn, err)
	}
	t.Setenv(EnvPGDSN, "postgres://env")
	if dsn, err := (Postgres{}).EffectiveDSN(); dsn != "postgres://env" || err != nil {
		t.Errorf("env: %q %v", dsn, err)
	}
	if dsn, err := (Postgres{DSN: "postgres://file"}).EffectiveDSN(); dsn != "postgres://file" || err != nil {
		t.Errorf("file wins: %q %v", dsn, err)
	}
}

// TestFixedAgainstNum checks Fixed against num.ParseString, the hot path's
// parser, on random decimals: both give the same integer, or both refuse.
func TestFixedAgainstNum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var s string
		switch i % 3 {
		case 0: // a value num itself printed
			dec := uint8(r.IntN(num.MaxDecimals + 1))
			s = num.Format(r.Int64N(1<<62)-1<<61, dec)
		case 1: // random digits on both sides
			s = randDigits(r, 1+r.IntN(20)) + "." + randDigits(r, 1+r.IntN(20))
		default:
			s = randDigits(r, 1+r.IntN(21))
		}
		dec := uint8(r.IntN(num.MaxDecimals + 1))
		want, werr := num.ParseString(s, dec)
		got, gerr := Fixed(decimal.RequireFromString(s), dec)
		if (werr == nil) != (gerr == nil) || werr == nil && got != want {
			t.Fatalf("%q at %d decimals: Fixed = %d, %v; num.ParseString = %d, %v", s, dec, got, gerr, want, werr)
		}
		if werr == num.ErrPrecision && gerr != num.ErrPrecision {
			t.Fatalf("%q at %d decimals: Fixed error %v, want ErrPrecision", s, dec, gerr)
		}
	}
	if _, err := Fixed(decimal.New(1, 0), num.MaxDecimals+1); err != num.ErrRange {
		t.Errorf("decimals past MaxDecimals: %v", err)
	}
}

func randDigits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// TestParseDeterministic: the same input gives the same error text, every
// time (problems from maps are reported in sorted order, then file order).
func TestParseDeterministic(t *testing.T) {
	src := strings.NewReplacer(`USDT: "100000"`, `usdt: "-1"`, `BTC: "1"}`, `btc: "-2"}`, "kind: okx", "kind: x").Replace(validYAML(t))
	_, first := Parse("a.yaml", []byte(src), kinds)
	if first == nil {
		t.Fatal("no error")
	}
	for range 20 {
		if _, err := Parse("a.yaml", []byte(src), kinds); err.Error() != first.Error() {
			t.Fatalf("error changed:\n%v\n---\n%v", first, err)
		}
	}
}

// FuzzParse: Parse never panics; an accepted config re-validates; a refused
// one yields an *Error whose every problem is one non-empty line naming the
// file.
func FuzzParse(f *testing.F) {
	f.Add(Default())
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{"", "~", "a: *b", "a: &b 1", "[1, 2", "venues: [{symbols: {A-B: C}}]", "\t", "---\n---\n",
		"instruments: [{symbol: A-B, price_decimals: 99999999999999999999}]", "strategy: {max_notional: 1.5e300}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, chainKinds)
		if err == nil {
			if c == nil {
				t.Fatal("nil config without error")
			}
			if err := c.Validate(chainKinds); err != nil {
				t.Fatalf("accepted config fails Validate: %v", err)
			}
			return
		}
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error %T without problems: %v", err, err)
		}
		for _, p := range ce.Problems {
			line := p.String()
			if strings.ContainsAny(line, "\r\n") || !strings.HasPrefix(line, "fuzz.yaml") || p.Msg == "" {
				t.Fatalf("bad problem line %q", line)
			}
		}
	})
}

// ExampleParse shows the one line an operator sees.
func ExampleParse() {
	src := []byte(strings.Replace(string(Default()), "kind: okx", "kind: kraken", 1))
	_, err := Parse("configs/arbd.yaml", src, Known{Kinds: []string{"binance", "okx", "bybit"}})
	var ce *Error
	if errors.As(err, &ce) {
		fmt.Println(ce.First())
	}
	// Output: configs/arbd.yaml:55: venues[1].kind: unknown venue kind "kraken" (want binance, okx, bybit)
}

package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// testKey is a valid risk.kv_trusted_keys entry.
const testKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

// kinds is what the wiring passes in production.
var kinds = Known{Kinds: []string{"binance", "okx", "bybit"}}

// validYAML is testdata/valid.yaml: every rule below is a one-line edit of it,
// so the expected line numbers are those of that file.
func validYAML(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces the first occurrence of each old string, failing the test if
// one is missing (a stale case must not pass by editing nothing).
func edit(t *testing.T, s string, edits [][2]string) string {
	t.Helper()
	for _, e := range edits {
		if !strings.Contains(s, e[0]) {
			t.Fatalf("edit: %q not found in testdata/valid.yaml", e[0])
		}
		s = strings.Replace(s, e[0], e[1], 1)
	}
	return s
}

func TestValidBaseParses(t *testing.T) {
	c, err := Parse("arbd.yaml", []byte(validYAML(t)), kinds)
	if err != nil {
		t.Fatalf("testdata/valid.yaml: %v", err)
	}
	if got := c.Venues[1].AgeMax.String(); got != "5s" {
		t.Errorf("venues[1].age_max default = %s, want 5s", got)
	}
	if c.Venues[1].FeeAsset != "quote" {
		t.Errorf("venues[1].fee_asset default = %q, want quote", c.Venues[1].FeeAsset)
	}
	f := c.Venues[0].Filters["BTC-USDT"]
	if !f.Tick.Valid || f.Tick.Decimal.String() != "0.01" || f.MinNotional.Decimal.String() != "5" {
		t.Errorf("filters = %+v", f)
	}
	if c.Strategy.MaxNotional.String() != "10000" || c.Venues[0].GasQuote.String() != "0" {
		t.Errorf("decimals: max_notional %s gas_quote %s", c.Strategy.MaxNotional, c.Venues[0].GasQuote)
	}
}

// TestRules is the specification of every decoding and validation rule: an
// edit of the valid file and the exact lines of the resulting error.
func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		edits [][2]string
		known *Known // nil = kinds
		want  []string
	}{
		// Decoding.
		{"empty file", [][2]string{{validYAML(t), ""}}, nil,
			[]string{"arbd.yaml: the file holds no YAML document"}},
		{"yaml syntax", [][2]string{{"log: {level: info}", "log: {level: info"}}, nil,
			[]string{"arbd.yaml:2: invalid YAML: did not find expected ',' or '}'"}},
		{"two documents", [][2]string{{"risk: {rules_file: rules.yaml, kv_bucket: \"\"}", "risk: {}\n---\npaper: true"}}, nil,
			[]string{"arbd.yaml:41: more than one YAML document (---); a config is one document"}},
		{"no risk section", [][2]string{{`risk: {rules_file: rules.yaml, kv_bucket: ""}`, ""}}, nil,
			[]string{"arbd.yaml:1: risk: required key is missing"}},
		{"null rules file", [][2]string{{`risk: {rules_file: rules.yaml, kv_bucket: ""}`, `risk: {rules_file: }`}}, nil,
			[]string{"arbd.yaml:40: risk.rules_file: required, found an empty value"}},
		{"empty rules file", [][2]string{{`risk: {rules_file: rules.yaml, kv_bucket: ""}`, `risk: {rules_file: ""}`}}, nil,
			[]string{"arbd.yaml:40: risk.rules_file: must name the rules file every plan must pass"}},
		{"unknown key with a suggestion", [][2]string{{"paper: true", "papr: true"}}, nil,
			[]string{"arbd.yaml:6: papr: unknown key; did you mean paper?"}},
		{"unknown key", [][2]string{{"    gas_quote: 0", "    colour: red"}}, nil,
			[]string{"arbd.yaml:19: venues[0].colour: unknown key (known: name, kind, ws_url, rest_url, private_ws_url, trade_ws_url, paper, demo, api_key_env, api_secret_env, api_passphrase_env, channel, depth, taker_fee_bps, fee_asset, gas_quote, age_max, symbols, filters, withdraw_fees, balances, chain)"}},
		{"secret api_key", [][2]string{{"    api_key_env: BINANCE_API_KEY", "    api_key: abc123"}}, nil,
			[]string{"arbd.yaml:16: venues[0].api_key: secrets are never read from the config file: set api_key_env to the NAME of an environment variable that holds the secret"}},
		{"secret api_secret", [][2]string{{"    api_secret_env: BINANCE_API_SECRET", "    api_secret: abc123"}}, nil,
			[]string{"arbd.yaml:17: venues[0].api_secret: secrets are never read from the config file: set api_secret_env to the NAME of an environment variable that holds the secret"}},
		{"secret passphrase, and the missing key it displaced sorts last", [][2]string{{"    taker_fee_bps: 8", "    passphrase: hunter2"}}, nil,
			[]string{
				"arbd.yaml:30: venues[1].passphrase: secrets are never read from the config file: set api_passphrase_env to the NAME of an environment variable that holds the secret",
				"arbd.yaml:26: venues[1].taker_fee_bps: required key is missing",
			}},
		{"PEM private key as a value", [][2]string{{"    api_secret_env: BINANCE_API_SECRET", "    api_secret_env: \"-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEII510kJzRj6Les\\n-----END PRIVATE KEY-----\""}}, nil,
			[]string{"arbd.yaml:17: venues[0].api_secret_env: holds a PEM private key; secrets are never read from the config file: pass them in environment variables or files (NAME_FILE)"}},
		{"EC private key in a map value", [][2]string{{"symbols: {BTC-USDT: BTCUSDT,", "symbols: {BTC-USDT: \"-----BEGIN EC PRIVATE KEY----- x\","}}, nil,
			[]string{"arbd.yaml:21: venues[0].symbols.BTC-USDT: holds a PEM private key; secrets are never read from the config file: pass them in environment variables or files (NAME_FILE)"}},
		{"nkey seed as a value", [][2]string{{`nats: {url: ""}`, `nats: {url: "", credentials_file: SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU}`}}, nil,
			[]string{"arbd.yaml:4: nats.credentials_file: holds a NATS nkey seed; secrets are never read from the config file: pass them in environment variables or files (NAME_FILE)"}},
		{"admin token", [][2]string{{`nats: {url: ""}`, "admin_token: e2e-admin-token-0123456789"}}, nil,
			[]string{"arbd.yaml:4: admin_token: secrets are never read from the config file: pass them in environment variables"}},
		{"secret outside a venue", [][2]string{{`nats: {url: ""}`, "token: abc"}}, nil,
			[]string{"arbd.yaml:4: token: secrets are never read from the config file: pass them in environment variables"}},
		{"duplicate key", [][2]string{{"log: {level: info}", "log: {level: info, level: debug}"}}, nil,
			[]string{"arbd.yaml:2: log.level: duplicate key (first at line 2)"}},
		{"duplicate map key", [][2]string{{`balances: {USDT: "100000", BTC: "1"}`, `balances: {USDT: "100000", USDT: "1"}`}}, nil,
			[]string{"arbd.yaml:25: venues[0].balances.USDT: duplicate key (first at line 25)"}},
		{"not a number", [][2]string{{"    taker_fee_bps: 8", "    taker_fee_bps: eight"}}, nil,
			[]string{`arbd.yaml:30: venues[1].taker_fee_bps: "eight" is not a number`}},
		{"not an integer", [][2]string{{"rebalance_trades: 50", "rebalance_trades: 5.5"}}, nil,
			[]string{`arbd.yaml:38: strategy.rebalance_trades: "5.5" is not an integer`}},
		{"not a bool", [][2]string{{"paper: true", "paper: yes"}}, nil,
			[]string{`arbd.yaml:6: paper: "yes" is not true or false`}},
		{"duration without unit", [][2]string{{"  cooldown: 2s", "  cooldown: 2"}}, nil,
			[]string{`arbd.yaml:36: strategy.cooldown: "2" is not a duration: give a unit, such as 5s or 100ms`}},
		{"bad duration", [][2]string{{"age_max: 5s", "age_max: soon"}}, nil,
			[]string{`arbd.yaml:20: venues[0].age_max: "soon" is not a duration such as 5s or 100ms`}},
		{"decimal with exponent", [][2]string{{`max_notional: "10000"`, "max_notional: 1e4"}}, nil,
			[]string{`arbd.yaml:37: strategy.max_notional: "1e4" is not a plain decimal number such as "0.01"`}},
		{"decimal with a sign", [][2]string{{`min_notional: "5"`, `min_notional: "+5"`}}, nil,
			[]string{`arbd.yaml:23: venues[0].filters.BTC-USDT.min_notional: "+5" is not a plain decimal number such as "0.01"`}},
		{"list for a mapping", [][2]string{{"log: {level: info}", "log: [info]"}}, nil,
			[]string{"arbd.yaml:2: log: want a mapping of keys, found a list"}},
		{"scalar for a list", [][2]string{{"quote_equivalents: [[USDT, USDC]]", "quote_equivalents: USDT"}}, nil,
			[]string{`arbd.yaml:39: strategy.quote_equivalents: want a list, found "USDT"`}},
		{"anchor", [][2]string{{"    kind: okx", "    kind: &k okx"}}, nil,
			[]string{"arbd.yaml:27: venues[1].kind: YAML anchors and aliases are not supported; write the values out"}},
		{"merge key", [][2]string{{"    taker_fee_bps: 8", "    <<: {taker_fee_bps: 8}"}}, nil,
			[]string{
				"arbd.yaml:30: venues[1].<<: YAML merge keys (<<) are not supported; write the values out",
				"arbd.yaml:26: venues[1].taker_fee_bps: required key is missing",
			}},
		{"required key missing", [][2]string{{"{symbol: ETH-USDT, price_decimals: 2, qty_decimals: 4}", "{symbol: ETH-USDT, qty_decimals: 4}"}}, nil,
			[]string{"arbd.yaml:10: instruments[1].price_decimals: required key is missing"}},
		{"required key empty", [][2]string{{"    kind: okx", "    kind:"}}, nil,
			[]string{"arbd.yaml:27: venues[1].kind: required, found an empty value"}},

		// Venues.
		{"unknown kind", [][2]string{{"    kind: okx", "    kind: kraken"}}, nil,
			[]string{`arbd.yaml:27: venues[1].kind: unknown venue kind "kraken" (want binance, okx, bybit)`}},
		{"no kinds known", nil, &Known{},
			[]string{
				`arbd.yaml:13: venues[0].kind: unknown venue kind "binance" (no venue kinds are available)`,
				`arbd.yaml:27: venues[1].kind: unknown venue kind "okx" (no venue kinds are available)`,
			}},
		{"duplicate venue name", [][2]string{{"  - name: okx", "  - name: binance"}}, nil,
			[]string{`arbd.yaml:26: venues[1].name: duplicate venue name "binance" (first at venues[0])`}},
		{"bad venue name", [][2]string{{"  - name: okx", "  - name: OKX"}}, nil,
			[]string{`arbd.yaml:26: venues[1].name: "OKX" is not a venue name (a-z 0-9 _ -, 1 to 32 characters)`}},
		{"symbol of an undeclared instrument", [][2]string{{"symbols: {BTC-USDT: BTC-USDT}", "symbols: {BTC-USDT: BTC-USDT, SOL-USDT: SOL-USDT}"}}, nil,
			[]string{`arbd.yaml:31: venues[1].symbols.SOL-USDT: "SOL-USDT" is not a configured instrument (see instruments)`}},
		{"venue without symbols", [][2]string{{"symbols: {BTC-USDT: BTC-USDT}", "symbols: {}"}}, nil,
			[]string{"arbd.yaml:31: venues[1].symbols: at least one symbol mapping (canonical: venue symbol) is required"}},
		{"venue symbol used twice", [][2]string{{"ETH-USDT: ETHUSDT", "ETH-USDT: BTCUSDT"}}, nil,
			[]string{`arbd.yaml:21: venues[0].symbols.ETH-USDT: venue symbol "BTCUSDT" is also mapped from BTC-USDT`}},
		{"empty venue symbol", [][2]string{{"symbols: {BTC-USDT: BTC-USDT}", `symbols: {BTC-USDT: ""}`}}, nil,
			[]string{"arbd.yaml:31: venues[1].symbols.BTC-USDT: venue symbol must not be empty"}},
		{"venue symbol with a space", [][2]string{{"symbols: {BTC-USDT: BTC-USDT}", `symbols: {BTC-USDT: "BTC USDT"}`}}, nil,
			[]string{`arbd.yaml:31: venues[1].symbols.BTC-USDT: venue symbol "BTC USDT" has characters outside A-Z a-z 0-9 . _ / : -`}},
		{"filter without mapping", [][2]string{{`      BTC-USDT: {tick: "0.01"`, `      SOL-USDT: {tick: "0.01"`}}, nil,
			[]string{`arbd.yaml:23: venues[0].filters.SOL-USDT: "SOL-USDT" has no symbol mapping on this venue (see symbols)`}},
		{"ws scheme", [][2]string{{"ws_url: wss://stream", "ws_url: https://stream"}}, nil,
			[]string{`arbd.yaml:14: venues[0].ws_url: "https://stream.binance.com:9443/ws" has scheme "https" (want ws, wss or sim)`}},
		{"rest scheme", [][2]string{{"rest_url: https://api", "rest_url: ftp://api"}}, nil,
			[]string{`arbd.yaml:15: venues[0].rest_url: "ftp://api.binance.com" has scheme "ftp" (want http, https or sim)`}},
		{"scheme missing", [][2]string{{"rest_url: https://api.binance.com", "rest_url: api.binance.com"}}, nil,
			[]string{`arbd.yaml:15: venues[0].rest_url: "api.binance.com" has scheme "" (want http, https or sim)`}},
		{"no host", [][2]string{{"ws_url: wss://stream.binance.com:9443/ws", "ws_url: wss:///ws"}}, nil,
			[]string{`arbd.yaml:14: venues[0].ws_url: "wss:///ws" has no host`}},
		{"unparsable url", [][2]string{{"ws_url: wss://stream.binance.com:9443/ws", `ws_url: "wss://stream binance.com/ws"`}}, nil,
			[]string{`arbd.yaml:14: venues[0].ws_url: "wss://stream binance.com/ws" is not a URL: invalid character " " in host name`}},
		{"port out of range", [][2]string{{"stream.binance.com:9443", "stream.binance.com:99999"}}, nil,
			[]string{`arbd.yaml:14: venues[0].ws_url: "wss://stream.binance.com:99999/ws" has port "99999" outside 1..65535`}},
		{"credentials in a url are not echoed", [][2]string{{"rest_url: https://api", "rest_url: https://key:s3cr3t@api"}}, nil,
			[]string{"arbd.yaml:15: venues[0].rest_url: the URL carries credentials (user:password@); secrets are never read from the config file"}},
		{"sim url while the simulator is off", [][2]string{{"sim: {enabled: true", "sim: {enabled: false"}}, nil,
			[]string{
				`arbd.yaml:28: venues[1].ws_url: "sim://okx" needs the simulator, but sim.enabled is false`,
				`arbd.yaml:29: venues[1].rest_url: "sim://okx" needs the simulator, but sim.enabled is false`,
			}},
		{"sim url naming no simulated venue", nil, &Known{Kinds: kinds.Kinds, SimVenues: []string{"binance", "bybit"}},
			[]string{
				`arbd.yaml:28: venues[1].ws_url: no simulated venue "okx" (have binance, bybit)`,
				`arbd.yaml:29: venues[1].rest_url: no simulated venue "okx" (have binance, bybit)`,
			}},
		{"sim url with a path", [][2]string{{"ws_url: sim://okx", "ws_url: sim://okx/ws"}}, nil,
			[]string{`arbd.yaml:28: venues[1].ws_url: "sim://okx/ws": sim://<name> needs a simulated venue name (a-z 0-9 _ -), nothing else`}},
		{"sim mixed with a real url", [][2]string{{"rest_url: sim://okx", "rest_url: https://www.okx.com"}}, nil,
			[]string{`arbd.yaml:29: venues[1].rest_url: "https://www.okx.com" must be sim:// as ws_url is (sim://okx)`}},
		{"real mixed with a sim url", [][2]string{{"ws_url: wss://stream.binance.com:9443/ws", "ws_url: sim://binance"}}, nil,
			[]string{`arbd.yaml:15: venues[0].rest_url: "https://api.binance.com" must be sim:// as ws_url is (sim://binance)`}},
		{"two sim names", [][2]string{{"rest_url: sim://okx", "rest_url: sim://okx2"}}, nil,
			[]string{`arbd.yaml:29: venues[1].rest_url: names simulated venue "okx2" but ws_url names "okx"`}},
		{"one sim venue, two kinds", [][2]string{
			{"ws_url: wss://stream.binance.com:9443/ws", "ws_url: sim://okx"},
			{"rest_url: https://api.binance.com", "rest_url: sim://okx"}}, nil,
			[]string{`arbd.yaml:28: venues[1].ws_url: simulated venue "okx" already speaks kind "binance" for venues[0]; one simulated venue speaks one protocol`}},
		{"env name holding a secret", [][2]string{{"api_key_env: BINANCE_API_KEY", "api_key_env: xK9fA83hsd"}}, nil,
			[]string{"arbd.yaml:16: venues[0].api_key_env: is not an environment variable name (A-Z 0-9 _): write the variable's NAME here, never the secret"}},
		{"channel", [][2]string{{"    gas_quote: 0", `    channel: "depth 20"`}}, nil,
			[]string{`arbd.yaml:19: venues[0].channel: "depth 20" is not a stream name (A-Z a-z 0-9 . _ @ : -, up to 64)`}},
		{"depth", [][2]string{{"    gas_quote: 0", "    depth: -1"}}, nil,
			[]string{"arbd.yaml:19: venues[0].depth: -1 is out of range (0..5000; 0 = adapter default)"}},
		{"negative fee", [][2]string{{"taker_fee_bps: 10", "taker_fee_bps: -1"}}, nil,
			[]string{"arbd.yaml:18: venues[0].taker_fee_bps: must not be negative, found -1"}},
		{"fee over 1000 bps", [][2]string{{"taker_fee_bps: 10", "taker_fee_bps: 1500"}}, nil,
			[]string{"arbd.yaml:18: venues[0].taker_fee_bps: 1500 bps is more than 1000 bps (10%); is it a percentage?"}},
		{"fee asset", [][2]string{{"    gas_quote: 0", "    fee_asset: bnb"}}, nil,
			[]string{`arbd.yaml:19: venues[0].fee_asset: "bnb" is not quote, base or an asset such as BNB`}},
		{"negative gas", [][2]string{{"gas_quote: 0", "gas_quote: -0.5"}}, nil,
			[]string{"arbd.yaml:19: venues[0].gas_quote: must not be negative, found -0.5"}},
		{"negative withdraw fee", [][2]string{{`withdraw_fees: {BTC: "0.0002"`, `withdraw_fees: {BTC: "-0.0002"`}}, nil,
			[]string{"arbd.yaml:24: venues[0].withdraw_fees.BTC: must not be negative, found -0.0002"}},
		{"negative balance", [][2]string{{`balances: {USDT: "100000"`, `balances: {USDT: "-1"`}}, nil,
			[]string{"arbd.yaml:25: venues[0].balances.USDT: must not be negative, found -1"}},
		{"balance asset", [][2]string{{`balances: {USDT: "100000"`, `balances: {usdt: "100000"`}}, nil,
			[]string{`arbd.yaml:25: venues[0].balances.usdt: "usdt" is not an asset (A-Z 0-9, up to 16)`}},
		{"age_max zero", [][2]string{{"age_max: 5s", "age_max: 0s"}}, nil,
			[]string{"arbd.yaml:20: venues[0].age_max: must be positive, found 0s"}},

		// Filters against the instrument's scale.
		{"tick finer than price decimals", [][2]string{{`tick: "0.01"`, `tick: "0.001"`}}, nil,
			[]string{`arbd.yaml:23: venues[0].filters.BTC-USDT.tick: "0.001" has more decimals than BTC-USDT's price_decimals (2)`}},
		{"step finer than qty decimals", [][2]string{{`step: "0.00001"`, `step: "0.0000001"`}}, nil,
			[]string{`arbd.yaml:23: venues[0].filters.BTC-USDT.step: "0.0000001" has more decimals than BTC-USDT's qty_decimals (6)`}},
		{"min_qty finer than qty decimals", [][2]string{{`min_qty: "0.00001"`, `min_qty: "0.0000005"`}}, nil,
			[]string{`arbd.yaml:23: venues[0].filters.BTC-USDT.min_qty: "0.0000005" has more decimals than BTC-USDT's qty_decimals (6)`}},
		{"min_notional finer than price decimals", [][2]string{{`min_notional: "5"`, `min_notional: "5.001"`}}, nil,
			[]string{`arbd.yaml:23: venues[0].filters.BTC-USDT.min_notional: "5.001" has more decimals than BTC-USDT's price_decimals (2)`}},
		{"min_notional too large", [][2]string{{`min_notional: "5"`, `min_notional: "100000000000000000"`}}, nil,
			[]string{`arbd.yaml:23: venues[0].filters.BTC-USDT.min_notional: "100000000000000000" is too large for BTC-USDT's price_decimals (2)`}},
		{"zero tick", [][2]string{{`tick: "0.01"`, `tick: "0"`}}, nil,
			[]string{"arbd.yaml:23: venues[0].filters.BTC-USDT.tick: must be positive, found 0"}},
		{"negative min_qty", [][2]string{{`min_qty: "0.00001"`, `min_qty: "-1"`}}, nil,
			[]string{"arbd.yaml:23: venues[0].filters.BTC-USDT.min_qty: must not be negative, found -1"}},

		// Instruments.
		{"price decimals out of range", [][2]string{{"price_decimals: 2, qty_decimals: 6", "price_decimals: 19, qty_decimals: 6"}}, nil,
			[]string{"arbd.yaml:9: instruments[0].price_decimals: 19 is out of range (0..18)"}},
		{"qty decimals out of range", [][2]string{{"price_decimals: 2, qty_decimals: 6", "price_decimals: 2, qty_decimals: -1"}}, nil,
			[]string{"arbd.yaml:9: instruments[0].qty_decimals: -1 is out of range (0..18)"}},
		{"instrument symbol form", [][2]string{{"{symbol: ETH-USDT", "{symbol: eth-usdt"}}, nil,
			[]string{
				`arbd.yaml:10: instruments[1].symbol: "eth-usdt" is not BASE-QUOTE in upper-case letters and digits, such as BTC-USDT`,
				`arbd.yaml:21: venues[0].symbols.ETH-USDT: "ETH-USDT" is not a configured instrument (see instruments)`,
			}},
		{"duplicate instrument", [][2]string{{"{symbol: ETH-USDT", "{symbol: BTC-USDT"}}, nil,
			[]string{
				`arbd.yaml:10: instruments[1].symbol: duplicate instrument "BTC-USDT" (first at instruments[0])`,
				`arbd.yaml:21: venues[0].symbols.ETH-USDT: "ETH-USDT" is not a configured instrument (see instruments)`,
			}},

		// The rest of the file.
		{"data_dir empty", [][2]string{{"data_dir: ./data", `data_dir: ""`}}, nil,
			[]string{"arbd.yaml:1: data_dir: must not be empty"}},
		{"log level", [][2]string{{"level: info", "level: verbose"}}, nil,
			[]string{`arbd.yaml:2: log.level: unknown level "verbose" (want debug, info, warn, error)`}},
		{"listen without port", [][2]string{{`listen: "127.0.0.1:7420"`, `listen: "127.0.0.1"`}}, nil,
			[]string{`arbd.yaml:3: http.listen: "127.0.0.1" is not host:port: missing port in address`}},
		{"listen with a named port", [][2]string{{`listen: "127.0.0.1:7420"`, `listen: "localhost:http"`}}, nil,
			[]string{`arbd.yaml:3: http.listen: "localhost:http" has port "http", not a number in 0..65535`}},
		{"nats scheme", [][2]string{{`nats: {url: ""}`, `nats: {url: "http://127.0.0.1:4222"}`}}, nil,
			[]string{`arbd.yaml:4: nats.url: "http://127.0.0.1:4222" has scheme "http" (want nats, tls, ws or wss)`}},
		{"nats credentials in the url", [][2]string{{`nats: {url: ""}`, `nats: {url: "nats://arb:pw@127.0.0.1:4222"}`}}, nil,
			[]string{"arbd.yaml:4: nats.url: the URL carries credentials (user:password@); secrets are never read from the config file"}},
		{"nats credentials file without url", [][2]string{{`nats: {url: ""}`, `nats: {credentials_file: arb.creds}`}}, nil,
			[]string{"arbd.yaml:4: nats.credentials_file: is set but nats.url is empty (the embedded server needs no credentials)"}},
		{"postgres url with password", [][2]string{{`postgres: {dsn: ""}`, `postgres: {dsn: "postgres://arb:s3cr3t@localhost/arb"}`}}, nil,
			[]string{"arbd.yaml:5: postgres.dsn: contains a password; secrets are never read from the config file: put the DSN in ARB_PG_DSN or the password in PGPASSWORD"}},
		{"postgres keywords with password", [][2]string{{`postgres: {dsn: ""}`, `postgres: {dsn: "host=localhost password=s3cr3t dbname=arb"}`}}, nil,
			[]string{"arbd.yaml:5: postgres.dsn: contains a password; secrets are never read from the config file: put the DSN in ARB_PG_DSN or the password in PGPASSWORD"}},
		{"live venue without its private websocket", [][2]string{{"paper: true", "paper: false"}}, nil,
			[]string{"arbd.yaml:12: venues[0].private_ws_url: required for a venue that trades for real (paper: false): the venue's private websocket (see configs/testnet.yaml)"}},
		{"live venue without keys", [][2]string{{"paper: true", "paper: false"}, {"    api_key_env: BINANCE_API_KEY\n    api_secret_env: BINANCE_API_SECRET\n", "    private_ws_url: wss://ws-api.binance.com:443/ws-api/v3\n"}}, nil,
			[]string{"arbd.yaml:12: venues[0].api_key_env: required for a venue that trades for real (paper: false): name the environment variable holding the API key",
				"arbd.yaml:12: venues[0].api_secret_env: required for a venue that trades for real (paper: false): name the environment variable holding the API secret"}},
		{"live okx without a passphrase", [][2]string{{"    kind: binance\n", "    kind: okx\n    paper: false\n    private_ws_url: wss://ws.okx.com:8443/ws/v5/private\n"}}, nil,
			[]string{"arbd.yaml:12: venues[0].api_passphrase_env: required for a venue that trades for real (paper: false): name the environment variable holding the API passphrase"}},
		{"private websocket scheme", [][2]string{{"    kind: binance\n", "    kind: binance\n    private_ws_url: https://ws-api.binance.com/ws-api/v3\n"}}, nil,
			[]string{`arbd.yaml:14: venues[0].private_ws_url: "https://ws-api.binance.com/ws-api/v3" has scheme "https" (want ws or wss)`}},
		{"private websocket of a simulated venue", [][2]string{{"    rest_url: sim://okx\n", "    rest_url: sim://okx\n    trade_ws_url: ws://127.0.0.1:1/x\n"}}, nil,
			[]string{"arbd.yaml:30: venues[1].trade_ws_url: a simulated venue (sim://) is reached at the simulator's own endpoints; remove trade_ws_url"}},
		{"demo on binance", [][2]string{{"    kind: binance\n", "    kind: binance\n    demo: true\n"}}, nil,
			[]string{"arbd.yaml:14: venues[0].demo: demo trading is OKX's (its x-simulated-trading header); this venue is binance"}},
		{"venue paper not a bool", [][2]string{{"    kind: binance\n", "    kind: binance\n    paper: maybe\n"}}, nil,
			[]string{`arbd.yaml:14: venues[0].paper: "maybe" is not true or false`}},
		{"execution policy", [][2]string{{"risk: {", "execution: {prefix: arb-1, max_open: 0, policy: {mode: parallel, first: both, retry_max: 9, retry_window: 5, deadline: 0s}}\nrisk: {"}}, nil,
			[]string{`arbd.yaml:40: execution.policy.retry_window: "5" is not a duration: give a unit, such as 5s or 100ms`,
				`arbd.yaml:40: execution.prefix: "arb-1" is not 1 to 8 letters and digits (client order ids start with it)`,
				"arbd.yaml:40: execution.max_open: 0 is out of range (1..65536)",
				`arbd.yaml:40: execution.policy.mode: "parallel" is neither concurrent nor sequential`,
				`arbd.yaml:40: execution.policy.first: "both" is neither buy nor sell`,
				"arbd.yaml:40: execution.policy.retry_max: 9 is out of range (0..8)",
				"arbd.yaml:40: execution.policy.deadline: must be positive, found 0s"}},
		{"execution pair", [][2]string{{"risk: {", "execution:\n  pairs:\n    - {buy_venue: kraken, sell_venue: okx, symbol: DOGE-USDT, policy: {unwind_max_loss_bps: 2000}}\nrisk: {"}}, nil,
			[]string{`arbd.yaml:42: execution.pairs[0].buy_venue: no venue named "kraken" (see venues)`,
				`arbd.yaml:42: execution.pairs[0].symbol: "DOGE-USDT" is not a configured instrument (see instruments)`,
				"arbd.yaml:42: execution.pairs[0].policy.unwind_max_loss_bps: 2000 is out of range (0..1000)"}},
		{"sim step zero", [][2]string{{"step: 100ms", "step: 0s"}}, nil,
			[]string{"arbd.yaml:7: sim.step: must be positive, found 0s"}},
		{"cooldown negative", [][2]string{{"cooldown: 2s", "cooldown: -1s"}}, nil,
			[]string{"arbd.yaml:36: strategy.cooldown: must be positive, found -1s"}},
		{"vol_halflife zero", [][2]string{{"vol_halflife: 30s", "vol_halflife: 0s"}}, nil,
			[]string{"arbd.yaml:35: strategy.vol_halflife: must be positive, found 0s"}},
		{"max_notional zero", [][2]string{{`max_notional: "10000"`, `max_notional: "0"`}}, nil,
			[]string{"arbd.yaml:37: strategy.max_notional: must be a positive amount, found 0"}},
		{"max_notional negative", [][2]string{{`max_notional: "10000"`, `max_notional: -5`}}, nil,
			[]string{"arbd.yaml:37: strategy.max_notional: must be a positive amount, found -5"}},
		{"max_notional missing", [][2]string{{`  max_notional: "10000"`, `  # no max_notional`}}, nil,
			[]string{"arbd.yaml:33: strategy.max_notional: required key is missing"}},
		{"min edge negative", [][2]string{{"min_net_edge_bps: 2", "min_net_edge_bps: -1"}}, nil,
			[]string{"arbd.yaml:33: strategy.min_net_edge_bps: -1 is out of range (0..10000)"}},
		{"rebalance trades zero", [][2]string{{"rebalance_trades: 50", "rebalance_trades: 0"}}, nil,
			[]string{"arbd.yaml:38: strategy.rebalance_trades: 0 is out of range (1..1000000)"}},
		{"quote group of one", [][2]string{{"[[USDT, USDC]]", "[[USDT]]"}}, nil,
			[]string{"arbd.yaml:39: strategy.quote_equivalents[0]: a group needs at least two assets, found 1"}},
		{"asset in two quote groups", [][2]string{{"[[USDT, USDC]]", "[[USDT, USDC], [USDC, DAI]]"}}, nil,
			[]string{`arbd.yaml:39: strategy.quote_equivalents[1][0]: "USDC" is already in strategy.quote_equivalents[0]; an asset belongs to one group`}},
		{"kv bucket", [][2]string{{`kv_bucket: ""`, `kv_bucket: "arb.rules", kv_trusted_keys: ["` + testKey + `"]`}}, nil,
			[]string{`arbd.yaml:40: risk.kv_bucket: "arb.rules" is not a NATS KV bucket name (A-Z a-z 0-9 _ -, up to 64)`}},
		{"kv bucket without trusted keys", [][2]string{{`kv_bucket: ""`, `kv_bucket: arb_rules`}}, nil,
			[]string{`arbd.yaml:40: risk.kv_trusted_keys: risk.kv_bucket is set: list the public keys (arb rules keygen) whose signed rule sets may replace the rules`}},
		{"kv trusted key not a key", [][2]string{{`kv_bucket: ""`, `kv_bucket: arb_rules, kv_trusted_keys: [hunter2]`}}, nil,
			[]string{`arbd.yaml:40: risk.kv_trusted_keys[0]: "hunter2" is not an ed25519 public key (base64 of 32 bytes, as arb rules keygen prints)`}},
		{"fleet instance", [][2]string{{`instance: ""`, `instance: "host.example-1"`}}, nil,
			[]string{`arbd.yaml:41: fleet.instance: "host.example-1" is not an instance name (A-Z a-z 0-9 _ -, up to 64)`}},
		{"fleet kill switch bucket", [][2]string{{`kill_switch_bucket: arb_killswitch`, `kill_switch_bucket: "arb.kill"`}}, nil,
			[]string{`arbd.yaml:41: fleet.kill_switch_bucket: "arb.kill" is not a NATS KV bucket name (A-Z a-z 0-9 _ -, up to 64)`}},
		{"fleet kill switch bucket shared", [][2]string{{`kill_switch_bucket: arb_killswitch`, `kill_switch_bucket: arb_fleet`}}, nil,
			[]string{`arbd.yaml:41: fleet.kill_switch_bucket: "arb_fleet" is also used for another purpose: the kill switch needs a bucket of its own (its values never expire)`}},
		{"fleet status bucket empty", [][2]string{{`status_bucket: arb_fleet`, `status_bucket: ""`}}, nil,
			[]string{`arbd.yaml:41: fleet.status_bucket: "" is not a NATS KV bucket name (A-Z a-z 0-9 _ -, up to 64)`}},
		{"fleet heartbeat", [][2]string{{`heartbeat: 2s`, `heartbeat: 10ms`}}, nil,
			[]string{`arbd.yaml:41: fleet.heartbeat: must be between 100ms and 5m, found 10ms`}},
		{"allowed host with a port", [][2]string{{`http: {listen: "127.0.0.1:7420"}`, `http: {listen: "127.0.0.1:7420", allowed_hosts: ["arbd.internal:7420"]}`}}, nil,
			[]string{`arbd.yaml:3: http.allowed_hosts[0]: "arbd.internal:7420" is not a host name (letters, digits, - and ., no port)`}},
		{"balance of an unused asset", [][2]string{{`balances: {USDT: "100000", BTC: "1"}`, `balances: {USDT: "100000", BTC: "1", DOGE: "5"}`}}, nil,
			[]string{`arbd.yaml:25: venues[0].balances.DOGE: no configured instrument uses asset DOGE; a starting balance needs an instrument to trade it`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known := kinds
			if tt.known != nil {
				known = *tt.known
			}
			src := edit(t, validYAML(t), tt.edits)
			c, err := Parse("arbd.yaml", []byte(src), known)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Error("a config came back with the error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *config.Error: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("error lines:\n got: %q\nwant: %q", got, tt.want)
			}
			if ce.First() != tt.want[0] {
				t.Errorf("First() = %q, want %q", ce.First(), tt.want[0])
			}
		})
	}
}

// TestValidVariants are edits that stay valid: the edges of each rule.
func TestValidVariants(t *testing.T) {
	tests := []struct {
		name  string
		edits [][2]string
		check func(t *testing.T, c *Config)
	}{
		{"listen on every interface", [][2]string{{`listen: "127.0.0.1:7420"`, `listen: ":7420"`}}, nil},
		{"listen on a free port", [][2]string{{`listen: "127.0.0.1:7420"`, `listen: "127.0.0.1:0"`}}, nil},
		{"ipv6 loopback", [][2]string{{`listen: "127.0.0.1:7420"`, `listen: "[::1]:7420"`}}, nil},
		{"tick with trailing zeros", [][2]string{{`tick: "0.01"`, `tick: "0.010"`}}, func(t *testing.T, c *Config) {
			if v, err := Fixed(c.Venues[0].Filters["BTC-USDT"].Tick.Decimal, 2); v != 1 || err != nil {
				t.Errorf("Fixed(tick) = %d, %v", v, err)
			}
		}},
		{"unquoted decimals are read from the literal", [][2]string{{`min_notional: "5"`, `min_notional: 5.10`}}, func(t *testing.T, c *Config) {
			if got := c.Venues[0].Filters["BTC-USDT"].MinNotional.Decimal.String(); got != "5.1" {
				t.Errorf("min_notional = %s", got)
			}
		}},
		{"partial filter", [][2]string{{`{tick: "0.01", step: "0.00001", min_qty: "0.00001", min_notional: "5"}`, `{tick: "0.01"}`}}, func(t *testing.T, c *Config) {
			f := c.Venues[0].Filters["BTC-USDT"]
			if !f.Tick.Valid || f.Step.Valid || f.MinQty.Valid || f.MinNotional.Valid {
				t.Errorf("filter = %+v", f)
			}
		}},
		{"min_qty zero", [][2]string{{`min_qty: "0.00001"`, `min_qty: "0"`}}, nil},
		{"decimals at the limits", [][2]string{{"price_decimals: 2, qty_decimals: 6", "price_decimals: 18, qty_decimals: 18"}}, nil},
		{"fee at the limits", [][2]string{{"taker_fee_bps: 10", "taker_fee_bps: 1000"}, {"taker_fee_bps: 8", "taker_fee_bps: 0"}}, nil},
		{"depth at the limit", [][2]string{{"    gas_quote: 0", "    depth: 5000"}}, nil},
		{"fee asset", [][2]string{{"    gas_quote: 0", "    fee_asset: BNB"}}, nil},
		{"nats cluster", [][2]string{{`nats: {url: ""}`, `nats: {url: "nats://127.0.0.1:4222, tls://10.0.0.2:4222", credentials_file: arb.creds}`}}, func(t *testing.T, c *Config) {
			if c.NATS.CredentialsFile != "arb.creds" {
				t.Errorf("credentials_file = %q", c.NATS.CredentialsFile)
			}
		}},
		{"postgres without password", [][2]string{{`postgres: {dsn: ""}`, `postgres: {dsn: "postgres://arb@localhost/arb?sslmode=disable"}`}}, nil},
		{"log levels", [][2]string{{"level: info", "level: debug"}}, func(t *testing.T, c *Config) {
			if c.Log.SlogLevel().String() != "DEBUG" {
				t.Errorf("level %v", c.Log.SlogLevel())
			}
		}},
		{"quoted integers", [][2]string{{"price_decimals: 2, qty_decimals: 6", `price_decimals: "2", qty_decimals: 6`}}, nil},
		{"null optional values", [][2]string{{`nats: {url: ""}`, `nats: {url: }`}}, nil},
		{"absent optional sections", [][2]string{{`risk: {rules_file: rules.yaml, kv_bucket: ""}`, `risk: {rules_file: rules.yaml}`}, {"log: {level: info}", ""}}, func(t *testing.T, c *Config) {
			if c.Risk.KVBucket != "" || c.Log.Level != "info" {
				t.Errorf("risk %+v log %+v", c.Risk, c.Log)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("arbd.yaml", []byte(edit(t, validYAML(t), tt.edits)), kinds)
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestProblemsCapped: every problem of a real file is listed; only a
// pathological file (hundreds of mistakes) is cut, with the rest counted.
func TestProblemsCapped(t *testing.T) {
	var b strings.Builder
	const n = maxProblems + 10
	for i := range n {
		fmt.Fprintf(&b, "bad_key_%04d: 1\n", i)
	}
	_, err := Parse("many.yaml", []byte(b.String()), kinds)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if len(ce.Problems) != maxProblems || ce.Omitted != n-maxProblems+4 { // +4: instruments, venues, risk and strategy.max_notional missing
		t.Errorf("problems %d omitted %d", len(ce.Problems), ce.Omitted)
	}
	if !strings.HasSuffix(err.Error(), fmt.Sprintf("\n... and %d more problems", n-maxProblems+4)) {
		t.Errorf("error does not end with the count: %q", err.Error()[len(err.Error())-40:])
	}
	if !strings.HasPrefix(ce.First(), "many.yaml:1: bad_key_0000: unknown key") {
		t.Errorf("first = %q", ce.First())
	}
}

// TestAllProblemsAtOnce: decoding problems (an unknown key, a wrong type)
// and validation problems of the rest of the file are reported together,
// each on its own line with file:line and key, and a validation problem
// that only repeats a decoding one (the key left at its default) is not
// listed twice.
func TestAllProblemsAtOnce(t *testing.T) {
	src := edit(t, validYAML(t), [][2]string{
		{"paper: true", "papr: true"},                // decode: unknown key (and paper keeps its default)
		{"taker_fee_bps: 10", "taker_fee_bps: ten"},  // decode: wrong type
		{"log: {level: info}", "log: {level: loud}"}, // validation
		{"kind: okx", "kind: kraken"},                // validation
		{"age_max: 5s", "age_max: 0s"},               // validation
	})
	_, err := Parse("arbd.yaml", []byte(src), kinds)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`arbd.yaml:2: log.level: unknown level "loud" (want debug, info, warn, error)`,
		"arbd.yaml:6: papr: unknown key; did you mean paper?",
	}
	if len(got) != 5 {
		t.Fatalf("want 5 lines, got %d:\n%s", len(got), err)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("line %d = %q, want %q", i, got[i], w)
		}
	}
	for _, w := range []string{"taker_fee_bps: \"ten\" is not a number", ".kind: unknown venue kind \"kraken\"", ".age_max: must be positive"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no line with %q:\n%s", w, err)
		}
	}
	for _, l := range got {
		if !regexp.MustCompile(`^arbd\.yaml:\d+: [a-z_\[\]0-9.]+: `).MatchString(l) {
			t.Errorf("line without file:line: key: %q", l)
		}
	}
}

// TestValidateInCode: a Config changed in code is validated with the same
// rules; without a file its problems carry no line.
func TestValidateInCode(t *testing.T) {
	c, err := Parse("arbd.yaml", []byte(validYAML(t)), kinds)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP.Listen = "nowhere"
	if err := c.Validate(kinds); err == nil || err.Error() != `arbd.yaml:3: http.listen: "nowhere" is not host:port: missing port in address` {
		t.Errorf("err = %v", err)
	}
	var built Config
	err = built.Validate(kinds)
	if err == nil || !strings.HasPrefix(err.Error(), "config: data_dir: must not be empty\n") {
		t.Errorf("err = %v", err)
	}
}

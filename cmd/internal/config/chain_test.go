package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// chainKinds is what the wiring passes: the CEX kinds and the pool's.
var chainKinds = Known{Kinds: []string{"binance", "okx", "bybit", KindUniswap}}

func uniswapYAML(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/uniswap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChainValid: testdata/uniswap.yaml (a pool on a real node, one on a
// simulated chain) parses, and its values come through.
func TestChainValid(t *testing.T) {
	c, err := Parse("configs/arbd.yaml", []byte(uniswapYAML(t)), chainKinds)
	if err != nil {
		t.Fatal(err)
	}
	live, sim := c.Venues[1], c.Venues[2]
	if live.Chain == nil || live.Chain.KeyEnv != "UNI_TRADER_KEY" || live.Chain.MaxPriorityFeeGwei.String() != "2.5" {
		t.Fatalf("live chain %+v", live.Chain)
	}
	if w, ok := Wei(live.Chain.MaxPriorityFeeGwei); !ok || w.String() != "2500000000" {
		t.Fatalf("2.5 gwei = %v wei", w)
	}
	if _, ok := live.SimChain(); ok {
		t.Fatal("a wss:// chain is not simulated")
	}
	if name, ok := sim.SimChain(); !ok || name != "chain" || sim.Chain.Sim == nil || *sim.Chain.Sim.FlowProb != 0.3 {
		t.Fatalf("sim chain %q %v %+v", name, ok, sim.Chain)
	}
	if _, ok := sim.SimName(); ok {
		t.Fatal("a pool venue is not a simulated CEX venue")
	}
	if len(c.SimVenues()) != 1 {
		t.Fatalf("simulated CEX venues %+v", c.SimVenues())
	}
	// A keystore path resolves against the config file's directory.
	src := edit(t, uniswapYAML(t), [][2]string{{"key_env: UNI_TRADER_KEY", "keystore_file: keys/uni.json\n      keystore_password_env: UNI_KEYSTORE_PASSWORD"}})
	c, err = Parse("configs/arbd.yaml", []byte(src), chainKinds)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Venues[1].Chain.KeystoreFile; got != "configs/keys/uni.json" {
		t.Fatalf("keystore_file resolved to %q", got)
	}
}

// TestChainRules: every rule of the chain section, as an edit of
// testdata/uniswap.yaml and the exact error lines.
func TestChainRules(t *testing.T) {
	tests := []struct {
		name  string
		edits [][2]string
		want  []string
	}{
		{"no chain", [][2]string{{"    chain:\n      rpc_url: wss", "    chainless:\n      rpc_url: wss"}},
			[]string{"arbd.yaml:14: venues[1].chain: required for a venue of kind uniswap (rpc_url, pair, router, base_token, quote_token, key source, gas caps)",
				"arbd.yaml:18: venues[1].chainless: unknown key (known: name, kind, ws_url, rest_url, private_ws_url, trade_ws_url, paper, demo, api_key_env, api_secret_env, api_passphrase_env, channel, depth, taker_fee_bps, fee_asset, gas_quote, age_max, symbols, filters, withdraw_fees, balances, chain)"}},
		{"cex urls on a pool", [][2]string{{"    kind: uniswap\n    taker_fee_bps: 0\n    symbols: {ETH-USDT: WETH/USDT}\n    chain:\n      rpc_url: wss",
			"    kind: uniswap\n    ws_url: wss://x.example\n    api_key_env: K\n    taker_fee_bps: 0\n    symbols: {ETH-USDT: WETH/USDT}\n    chain:\n      rpc_url: wss"}},
			[]string{"arbd.yaml:16: venues[1].ws_url: an on-chain venue is reached at chain.rpc_url; remove ws_url",
				"arbd.yaml:17: venues[1].api_key_env: an on-chain venue signs with chain.key_env or chain.keystore_file; remove api_key_env"}},
		{"chain on a cex", [][2]string{{"    balances: {USDT: \"100000\", ETH: \"10\"}\n  - name: uni", "    balances: {USDT: \"100000\", ETH: \"10\"}\n    chain: {max_base_fee_gwei: 1, max_priority_fee_gwei: 1}\n  - name: uni"}},
			[]string{"arbd.yaml:14: venues[0].chain: only for an on-chain venue (kind uniswap)"}},
		{"taker fee on a pool", [][2]string{{"    taker_fee_bps: 0\n    symbols: {ETH-USDT: WETH/USDT}\n    chain:\n      rpc_url: wss", "    taker_fee_bps: 30\n    symbols: {ETH-USDT: WETH/USDT}\n    chain:\n      rpc_url: wss"}},
			[]string{"arbd.yaml:16: venues[1].taker_fee_bps: must be 0 for a pool: its 0.3 % fee is in its prices (the contract's exact getAmountOut), found 30"}},
		{"rpc url scheme", [][2]string{{"rpc_url: wss://eth.example.org/ws", "rpc_url: ftp://eth.example.org"}},
			[]string{`arbd.yaml:19: venues[1].chain.rpc_url: "ftp://eth.example.org" has scheme "ftp" (want ws, wss, http, https or sim)`}},
		{"rpc url and env", [][2]string{{"rpc_url: wss://eth.example.org/ws", "rpc_url: wss://eth.example.org/ws\n      rpc_url_env: ETH_RPC_URL"}},
			[]string{"arbd.yaml:19: venues[1].chain.rpc_url: set rpc_url or rpc_url_env, not both"}},
		{"rpc url env name", [][2]string{{"rpc_url: wss://eth.example.org/ws", "rpc_url_env: https://mainnet.example/v3/abc"}},
			[]string{"arbd.yaml:19: venues[1].chain.rpc_url_env: is not an environment variable name (A-Z 0-9 _): write the variable's NAME here"}},
		{"bad address", [][2]string{{`pair: "0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852"`, `pair: "0x0d4a11"`}},
			[]string{`arbd.yaml:20: venues[1].chain.pair: "0x0d4a11" is not an address (0x and 40 hex digits)`}},
		{"missing router", [][2]string{{`      router: "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"` + "\n", ""}},
			[]string{"arbd.yaml:18: venues[1].chain.router: required: the router's address (0x and 40 hex digits)"}},
		{"same tokens", [][2]string{{`quote_token: "0xdAC17F958D2ee523a2206206994597C13D831ec7"`, `quote_token: "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"`}},
			[]string{"arbd.yaml:23: venues[1].chain.quote_token: is the same address as base_token"}},
		{"native", [][2]string{{"native: base", "native: eth"}},
			[]string{`arbd.yaml:24: venues[1].chain.native: "eth" is neither base nor quote (the token that is the wrapped native token gas is paid in)`}},
		{"private key in the file", [][2]string{{"key_env: UNI_TRADER_KEY", "private_key: 4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"}},
			// The missing key_env is not repeated: the chain section did not decode.
			[]string{"arbd.yaml:25: venues[1].chain.private_key: secrets are never read from the config file: set key_env to the NAME of an environment variable that holds the secret"}},
		{"key pasted into key_env", [][2]string{{"key_env: UNI_TRADER_KEY", "key_env: 0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"}},
			[]string{"arbd.yaml:25: venues[1].chain.key_env: is not an environment variable name (A-Z 0-9 _): write the variable's NAME here, never the secret"}},
		{"key and keystore", [][2]string{{"key_env: UNI_TRADER_KEY", "key_env: UNI_TRADER_KEY\n      keystore_file: k.json\n      keystore_password_env: PW"}},
			[]string{"arbd.yaml:25: venues[1].chain.key_env: set key_env or keystore_file, not both"}},
		{"keystore without password", [][2]string{{"key_env: UNI_TRADER_KEY", "keystore_file: k.json"}},
			[]string{"arbd.yaml:18: venues[1].chain.keystore_password_env: required with keystore_file: the environment variable holding the keystore's password"}},
		{"no key on paper is fine, on a real trade required", [][2]string{{"      key_env: UNI_TRADER_KEY\n", ""}},
			[]string{"arbd.yaml:18: venues[1].chain.key_env: required for a pool venue that trades for real (paper: false): name the environment variable holding the key (key_env), or give keystore_file and keystore_password_env"}},
		{"gas caps", [][2]string{{`max_base_fee_gwei: "80"`, `max_base_fee_gwei: "0"`}, {`max_priority_fee_gwei: "2.5"`, `max_priority_fee_gwei: "0.0000000001"`}},
			[]string{"arbd.yaml:26: venues[1].chain.max_base_fee_gwei: must be positive, found 0",
				"arbd.yaml:27: venues[1].chain.max_priority_fee_gwei: 0.0000000001 gwei is finer than one wei (at most 9 decimals)"}},
		{"gas cap in wei", [][2]string{{`max_base_fee_gwei: "80"`, `max_base_fee_gwei: "80000000000"`}},
			[]string{"arbd.yaml:26: venues[1].chain.max_base_fee_gwei: 80000000000 gwei is more than 1000000: is it in wei?"}},
		{"gas cap missing", [][2]string{{`      max_base_fee_gwei: "80"` + "\n", ""}},
			[]string{"arbd.yaml:19: venues[1].chain.max_base_fee_gwei: required key is missing"}},
		{"swap gas", [][2]string{{`max_priority_fee_gwei: "2.5"`, `max_priority_fee_gwei: "2.5"` + "\n      swap_gas: 100"}},
			[]string{"arbd.yaml:28: venues[1].chain.swap_gas: 100 is outside 21000..10000000 (0 = 150000)"}},
		{"sim tuning on a real chain", [][2]string{{`max_priority_fee_gwei: "2.5"`, `max_priority_fee_gwei: "2.5"` + "\n      sim: {block_time: 1s}"}},
			[]string{"arbd.yaml:28: venues[1].chain.sim: only for a simulated chain (rpc_url sim://<name>)"}},
		{"addresses on a simulated chain", [][2]string{{"rpc_url: sim://chain", "rpc_url: sim://chain\n      pair: \"0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852\"\n      key_env: K"}},
			[]string{"arbd.yaml:35: venues[2].chain.pair: a simulated chain deploys its own contracts and signs with its public test key; remove pair",
				"arbd.yaml:36: venues[2].chain.key_env: a simulated chain deploys its own contracts and signs with its public test key; remove key_env"}},
		{"simulated chain without the simulator", [][2]string{{"sim: {enabled: true, seed: 1, step: 100ms}", "sim: {enabled: false}"}},
			[]string{`arbd.yaml:9: venues[0].ws_url: "sim://binance" needs the simulator, but sim.enabled is false`,
				`arbd.yaml:10: venues[0].rest_url: "sim://binance" needs the simulator, but sim.enabled is false`,
				`arbd.yaml:34: venues[2].chain.rpc_url: "sim://chain" needs the simulator, but sim.enabled is false`}},
		{"sim tuning", [][2]string{{"sim: {block_time: 1s, liquidity: \"500\", flow_prob: 0.3, flow_bps: 80}", "sim: {block_time: 1ms, liquidity: \"-1\", flow_prob: 2, flow_bps: -1}"}},
			[]string{"arbd.yaml:37: venues[2].chain.sim.block_time: 1ms is outside 10ms..1h",
				"arbd.yaml:37: venues[2].chain.sim.liquidity: must be positive, found -1",
				"arbd.yaml:37: venues[2].chain.sim.flow_prob: 2 is outside 0..1",
				"arbd.yaml:37: venues[2].chain.sim.flow_bps: -1 is outside 0..1000"}},
		{"two symbols on a pool", [][2]string{{"instruments:\n", "instruments:\n  - {symbol: BTC-USDT, price_decimals: 2, qty_decimals: 8}\n"}, {"symbols: {ETH-USDT: WETH/USDT}\n    chain:\n      rpc_url: wss", "symbols: {ETH-USDT: WETH/USDT, BTC-USDT: WBTC/USDT}\n    chain:\n      rpc_url: wss"}},
			[]string{"arbd.yaml:18: venues[1].symbols: a pool quotes one instrument, found 2 symbol mappings"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := edit(t, uniswapYAML(t), tt.edits)
			_, err := Parse("arbd.yaml", []byte(src), chainKinds)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("error lines:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
	// A build without the pool's kind refuses the venue by its kind.
	_, err := Parse("arbd.yaml", []byte(uniswapYAML(t)), kinds)
	if err == nil || !strings.Contains(err.Error(), `venues[1].kind: unknown venue kind "uniswap" (want binance, okx, bybit)`) {
		t.Fatalf("without the kind: %v", err)
	}
}

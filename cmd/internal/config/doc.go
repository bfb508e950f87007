// Package config loads arbd's YAML configuration. It is the only package of
// the daemon that reads files; everything else takes plain values.
//
// # Model
//
// Load (or Parse, for bytes already in hand) does four steps, in order:
//
//  1. parse the YAML into a node tree (gopkg.in/yaml.v3), one document only;
//  2. decode the tree into Config, starting from the defaults of every
//     optional key, with a walker that knows the key path and line of every
//     value. Unknown keys are errors, as with yaml.v3's KnownFields(true),
//     and keys that look like credentials (api_key, secret, passphrase, ...)
//     get an error saying that secrets come from the environment; so does
//     a value under any key that is key material by its form (a PEM private
//     key, a NATS nkey seed or credentials file), reported without the value;
//  3. resolve relative paths (data_dir, risk.rules_file,
//     nats.credentials_file, nats.tls files) against the config file's directory. The
//     embedded default (DefaultName) has none, so its paths resolve against
//     the working directory: the repository root under `go run ./cmd/arbd`;
//  4. validate (Config.Validate) against Known, the venue kinds and
//     simulated venues that only the wiring knows, so those lists live in one
//     place and cannot drift.
//
// # Errors
//
// Every problem is one line, "file:line: key.path: what is wrong", e.g.
//
//	configs/arbd.yaml:14: venues[1].kind: unknown venue kind "kraken" (want binance, okx, bybit)
//
// Load and Parse return an *Error holding every problem found (up to a cap
// no real file reaches) in file order, one line each; arbd and `arb config
// check` print them all and exit non-zero. Decoding problems (unknown keys,
// wrong types) do not hide validation problems: a value that cannot be
// decoded keeps its default, the rest of the file is validated, and a
// validation problem at (or inside, or around) a key that failed to decode
// is left out, since it would only repeat it. Only a file that is not YAML
// (a syntax error, no document, several documents) stops at the first
// problem. A key the file leaves out is reported at the line of its
// nearest ancestor in the file, or the document's first line.
//
// Known.Check, the wiring's checks, runs once the file is otherwise clean:
// it builds the daemon's parts offline and reports, at the key behind them,
// what would otherwise fail only at start-up.
//
// # Why a walker rather than yaml.v3 struct decoding
//
// yaml.v3's decoder with KnownFields(true) rejects unknown keys, but its
// messages name Go types and lines ("line 14: field kraken not found in type
// config.Venue"), not key paths.
// The walker enforces the same rule, keeps the path of every value, reads
// decimals from the literal text (never through float64), refuses durations
// without a unit ("5" would be 5ns), and caps lists and maps. YAML anchors,
// aliases and merge keys are refused: they let one mistake appear at several
// paths, and alias expansion is how YAML bombs grow.
//
// # Optional keys
//
// A key whose absence means "inherit" is a pointer in Config (a venue's
// paper, every key of an execution policy): nil when the file leaves it
// out, so the wiring can tell "not set" from a zero. The walker decodes
// into such a pointer only when the value is valid.
//
// # Secrets
//
// The file names environment variables (api_key_env, ...); Secret reads them,
// or a file named by NAME_FILE. A PostgreSQL DSN or NATS URL that carries a
// password is rejected for the same reason, as is a value that is key
// material by its form. No message about such a value quotes it: the
// error goes to a terminal and to logs.
//
// # On-chain venues
//
// A venue of kind uniswap (KindUniswap) is one Uniswap V2-style pool: it
// has a chain section (Chain) instead of ws_url and rest_url — the node's
// rpc_url (or rpc_url_env, since providers put an API key in the URL), the
// pair and router addresses, the token order (base_token, quote_token),
// the key source (key_env, or keystore_file with keystore_password_env;
// never the key) and the gas caps in gwei — and neither a taker fee (the
// pool's fee is in its prices) nor a gas_quote (gas is measured per
// block). rpc_url sim://<name> is a simulated chain the wiring starts in
// process: addresses and key are then the simulator's and must be left
// out, and chain.sim tunes it.
//
// # Decimals
//
// Money amounts (filters, balances, fees in asset units, max_notional) are
// shopspring/decimal values read from the literal, quoted or not. Filter
// overrides are checked to be exactly representable in the instrument's
// configured scale (a tick of 0.001 with price_decimals 2 is an error), so
// converting them with Fixed cannot fail later. price_decimals and
// qty_decimals are the least decimals the engine keeps: the wiring widens
// an instrument's scale to what its venues send (cmd/internal/wire
// unifyScales), converting every filter exactly.
package config

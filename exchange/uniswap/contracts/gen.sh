#!/bin/sh
# gen.sh regenerates the contracts' bytecode and ABI (build/) and the Go
# bindings (../internal/bindings). Run it through `go generate
# ./exchange/uniswap/...` or directly. The solc step needs node and npm
# (solc-js from the npm registry, at the version in SOLC_VERSION); set
# SKIP_SOLC=1 to rebind the committed build/ files without them. CI needs
# neither: build/ and the bindings are committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
if [ "${SKIP_SOLC:-0}" != 1 ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm install --silent --no-audit --no-fund "solc@$(cat "$here/SOLC_VERSION")" >/dev/null)
	NODE_PATH="$tmp/node_modules" node "$here/compile.js"
fi
# abigen at the go-ethereum version go.mod requires.
ver=$(cd "$root" && go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum)
out="$here/../internal/bindings"
for c in ERC20 Pair Factory Router; do
	lower=$(echo "$c" | tr 'A-Z' 'a-z')
	(cd "$root" && go run "github.com/ethereum/go-ethereum/cmd/abigen@$ver" --v2 \
		--abi "$here/build/$c.abi" --bin "$here/build/$c.bin" \
		--pkg bindings --type "$c" --out "$out/$lower.go")
done

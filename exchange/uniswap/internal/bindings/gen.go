// Package bindings holds the abigen (v2) bindings of the project's own
// Solidity contracts in exchange/uniswap/contracts/src: ERC20, Pair (a
// Uniswap V2 constant-product pair), Factory and Router. The files are
// generated; contracts/gen.sh regenerates the bytecode and ABI with solc-js
// from the npm registry and then these bindings with abigen at the
// go-ethereum version in go.mod.
package bindings

//go:generate sh ../../contracts/gen.sh

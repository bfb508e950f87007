package uniswap

import (
	"errors"

	"github.com/holiman/uint256"
)

// Errors of the constant-product formulas, one per way the contracts
// revert: the revert strings of UniswapV2Library, and Solidity 0.8's
// checked-arithmetic panics (overflow, division by zero) as ErrOverflow.
var (
	ErrInsufficientInput     = errors.New("uniswap: INSUFFICIENT_INPUT_AMOUNT")
	ErrInsufficientOutput    = errors.New("uniswap: INSUFFICIENT_OUTPUT_AMOUNT")
	ErrInsufficientLiquidity = errors.New("uniswap: INSUFFICIENT_LIQUIDITY")
	ErrOverflow              = errors.New("uniswap: arithmetic overflow or division by zero")
)

// Fee terms of Uniswap V2: 0.3 % of the input stays in the pool, written as
// the contract writes it (997/1000).
const (
	feeNum = 997
	feeDen = 1000
)

var (
	u1    = uint256.NewInt(1)
	u997  = uint256.NewInt(feeNum)
	u1000 = uint256.NewInt(feeDen)
)

// AmountOut is UniswapV2Library.getAmountOut: the output of a swap of
// amountIn against reserves (reserveIn, reserveOut), rounded down exactly
// as the contract rounds, and the contract's revert as an error:
//
//	amountOut = amountIn·997·reserveOut / (reserveIn·1000 + amountIn·997)
//
// Every product is checked as Solidity 0.8 checks it. It does not allocate.
func AmountOut(amountIn, reserveIn, reserveOut *uint256.Int) (uint256.Int, error) {
	var out uint256.Int
	if amountIn.IsZero() {
		return out, ErrInsufficientInput
	}
	if reserveIn.IsZero() || reserveOut.IsZero() {
		return out, ErrInsufficientLiquidity
	}
	var withFee, numer, denom uint256.Int
	if _, o := withFee.MulOverflow(amountIn, u997); o {
		return out, ErrOverflow
	}
	if _, o := numer.MulOverflow(&withFee, reserveOut); o {
		return out, ErrOverflow
	}
	if _, o := denom.MulOverflow(reserveIn, u1000); o {
		return out, ErrOverflow
	}
	if _, o := denom.AddOverflow(&denom, &withFee); o {
		return out, ErrOverflow
	}
	out.Div(&numer, &denom)
	return out, nil
}

// AmountIn is UniswapV2Library.getAmountIn: the input that buys amountOut
// from reserves (reserveIn, reserveOut), rounded as the contract rounds
// (floor, plus one), and the contract's revert as an error:
//
//	amountIn = reserveIn·amountOut·1000 / ((reserveOut − amountOut)·997) + 1
//
// amountOut ≥ reserveOut is ErrOverflow (Solidity underflows or divides by
// zero there). It does not allocate.
func AmountIn(amountOut, reserveIn, reserveOut *uint256.Int) (uint256.Int, error) {
	var in uint256.Int
	if amountOut.IsZero() {
		return in, ErrInsufficientOutput
	}
	if reserveIn.IsZero() || reserveOut.IsZero() {
		return in, ErrInsufficientLiquidity
	}
	var numer, denom uint256.Int
	if _, o := numer.MulOverflow(reserveIn, amountOut); o {
		return in, ErrOverflow
	}
	if _, o := numer.MulOverflow(&numer, u1000); o {
		return in, ErrOverflow
	}
	if _, o := denom.SubOverflow(reserveOut, amountOut); o {
		return in, ErrOverflow
	}
	if _, o := denom.MulOverflow(&denom, u997); o {
		return in, ErrOverflow
	}
	if denom.IsZero() {
		return in, ErrOverflow
	}
	in.Div(&numer, &denom)
	if _, o := in.AddOverflow(&in, u1); o {
		return in, ErrOverflow
	}
	return in, nil
}

// Package num holds the fixed-point numbers of the hot path: Price, Qty and
// Quote are int64 counts of 10^-d units, where d comes from the instrument's
// Scale. Every venue quoting one canonical instrument shares its Scale, so
// books from different venues compare and add as plain integers.
//
// Numbers enter from the wire as decimal text and are parsed straight into
// integers, never through float64; a string with more significant decimals
// than the scale holds is an error, not a silent rounding, because a rounded
// level is a wrong book. Products (notional) are computed in 128 bits.
// float64 appears only in Float, for ratios, metrics and display.
package num

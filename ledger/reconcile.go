package ledger

import (
	"cmp"
	"slices"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// Dust is how far a venue's balance may differ from the ledger's before
// reconciliation calls it a difference: rounding of fees by the venue,
// interest dust, and the like.
type Dust struct {
	Default  decimal.Decimal            // for assets not in PerAsset
	PerAsset map[string]decimal.Decimal // by asset code
}

func (d *Dust) of(asset string) decimal.Decimal {
	if v, ok := d.PerAsset[asset]; ok {
		return v
	}
	return d.Default
}

// ReconcileRow compares one venue's balance of one asset with the ledger's.
type ReconcileRow struct {
	Venue  string          `json:"venue"`
	Asset  string          `json:"asset"`
	Ledger decimal.Decimal `json:"ledger"`
	Actual decimal.Decimal `json:"venue_balance"`
	Diff   decimal.Decimal `json:"diff"`   // Actual − Ledger
	Beyond bool            `json:"beyond"` // |Diff| > dust
}

// Reconcile compares the ledger's holdings with what venues report. Only
// venues present in reported are compared (a venue that did not answer
// cannot be judged); within them every asset held on either side is a
// row, an asset missing on one side counting as zero. Rows are sorted by
// venue and asset. The first return is whether any row is beyond dust.
func Reconcile(ledger, reported []BalanceRow, dust Dust) (rows []ReconcileRow, differs bool) {
	type key struct{ venue, asset string }
	venues := map[string]bool{}
	actual := map[key]decimal.Decimal{}
	for _, r := range reported {
		venues[r.Venue] = true
		k := key{r.Venue, r.Asset}
		actual[k] = actual[k].Add(r.Balance)
	}
	ours := map[key]decimal.Decimal{}
	for _, r := range ledger {
		if venues[r.Venue] {
			k := key{r.Venue, r.Asset}
			ours[k] = ours[k].Add(r.Balance)
		}
	}
	keys := map[key]bool{}
	for k := range actual {
		keys[k] = true
	}
	for k := range ours {
		keys[k] = true
	}
	for k := range keys {
		d := actual[k].Sub(ours[k])
		beyond := d.Abs().GreaterThan(dust.of(k.asset))
		differs = differs || beyond
		rows = append(rows, ReconcileRow{Venue: k.venue, Asset: k.asset, Ledger: ours[k], Actual: actual[k], Diff: d, Beyond: beyond})
	}
	slices.SortFunc(rows, func(x, y ReconcileRow) int {
		return cmp.Or(cmp.Compare(x.Venue, y.Venue), cmp.Compare(x.Asset, y.Asset))
	})
	return rows, differs
}

// AmountDecimal converts an exact num.Amount to a decimal.
func AmountDecimal(a num.Amount) decimal.Decimal { return decimal.New(a.V, -int32(a.Dec)) }

// BalancesOf converts what one venue's exchange.Accounts reported into
// balance rows under the venue's configured name (total: free + locked).
func BalancesOf(venue string, bs []exchange.Balance) []BalanceRow {
	out := make([]BalanceRow, 0, len(bs))
	for _, b := range bs {
		out = append(out, BalanceRow{Venue: venue, Asset: b.Asset, Balance: AmountDecimal(b.Total)})
	}
	return out
}

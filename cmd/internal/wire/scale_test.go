package wire

import (
	"math"
	"strings"
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// TestUnifyScales: listings of one instrument that came back with
// different scales (each venue widened the configured one to what it
// sends) all get the widest, with their filters converted exactly; the
// registry records it; an instrument no venue widened keeps its scale.
func TestUnifyScales(t *testing.T) {
	reg := &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "binance"}, {ID: 2, Name: "okx"}},
		Assets: []exchange.Asset{{}, {ID: 1, Symbol: "NKN-USDT", Scale: num.Scale{Px: 4, Qty: 0}}, {ID: 2, Symbol: "BTC-USDT", Scale: num.Scale{Px: 2, Qty: 8}}},
	}
	listings := [][]exchange.Instrument{
		{ // Binance widened NKN-USDT to its precisions 8/8
			{ID: 1, Venue: 1, Symbol: "NKNUSDT", Scale: num.Scale{Px: 8, Qty: 8}, Tick: 10000, Step: 100000000, MinQty: 100000000, MinNotional: 1000000000},
			{ID: 2, Venue: 1, Symbol: "BTCUSDT", Scale: num.Scale{Px: 2, Qty: 8}, Tick: 1, Step: 1},
		},
		{ // OKX kept 4/0 for NKN-USDT
			{ID: 1, Venue: 2, Symbol: "NKN-USDT", Scale: num.Scale{Px: 4, Qty: 0}, Tick: 1, Step: 1, MinQty: 10},
		},
	}
	if err := unifyScales(reg, listings, nil); err != nil {
		t.Fatal(err)
	}
	okx := listings[1][0]
	if okx.Scale != (num.Scale{Px: 8, Qty: 8}) || okx.Tick != 10000 || okx.Step != 100000000 || okx.MinQty != 1000000000 {
		t.Fatalf("okx listing %+v", okx)
	}
	if b := listings[0][0]; b.Scale != (num.Scale{Px: 8, Qty: 8}) || b.Tick != 10000 {
		t.Fatalf("binance listing %+v", b)
	}
	if reg.Assets[1].Scale != (num.Scale{Px: 8, Qty: 8}) || reg.Assets[2].Scale != (num.Scale{Px: 2, Qty: 8}) || listings[0][1].Tick != 1 {
		t.Fatalf("registry %+v, BTC listing %+v", reg.Assets, listings[0][1])
	}
	// A filter that overflows in the wider scale is an error naming the venue.
	listings[1][0] = exchange.Instrument{ID: 1, Venue: 2, Symbol: "NKN-USDT", Scale: num.Scale{Px: 0, Qty: 0}, Tick: math.MaxInt64 / 10}
	reg.Assets[1].Scale = num.Scale{}
	if err := unifyScales(reg, listings, nil); err == nil || !strings.Contains(err.Error(), "venue okx") {
		t.Fatalf("overflow: %v", err)
	}
}

// TestFitScales: a venue joining a running engine is converted to the
// engine's scales when it sends no more decimals, and refused — with the
// configuration that lets it in — when it sends more.
func TestFitScales(t *testing.T) {
	reg := &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "binance"}, {ID: 2, Name: "okx"}},
		Assets: []exchange.Asset{{}, {ID: 1, Symbol: "BTC-USDT", Scale: num.Scale{Px: 8, Qty: 8}}},
	}
	late := []exchange.Instrument{{ID: 1, Venue: 2, Symbol: "BTC-USDT", Scale: num.Scale{Px: 1, Qty: 8}, Tick: 1, Step: 1, MinQty: 1, MinNotional: 10}}
	if err := fitScales(reg, late); err != nil {
		t.Fatal(err)
	}
	if l := late[0]; l.Scale != (num.Scale{Px: 8, Qty: 8}) || l.Tick != 10000000 || l.MinNotional != 100000000 || l.Step != 1 {
		t.Fatalf("converted listing %+v", l)
	}
	wide := []exchange.Instrument{{ID: 1, Venue: 2, Symbol: "BTC-USDT", Scale: num.Scale{Px: 10, Qty: 8}, Tick: 1}}
	err := fitScales(reg, wide)
	if err == nil || !strings.Contains(err.Error(), "venue okx sends BTC-USDT with 10 price") || !strings.Contains(err.Error(), "price_decimals") {
		t.Fatalf("a wider venue joined: %v", err)
	}
	if reg.Assets[1].Scale != (num.Scale{Px: 8, Qty: 8}) {
		t.Fatal("the running scale changed")
	}
}

package spread

import "testing"

func TestReservationsKeepTotal(t *testing.T) {
	inv := newInventory(3)
	usdt := inv.intern("USDT", 2)
	btc := inv.intern("BTC", 8)
	inv.freeze()
	inv.Set(1, usdt, 100000)
	inv.Set(2, btc, 5)
	p := Plan{Buy: Leg{Venue: 1, ReserveAsset: usdt, Reserve: 4000}, Sell: Leg{Venue: 2, ReserveAsset: btc, Reserve: 2}}
	inv.reserve(&p)
	if inv.Balance(1, usdt) != 96000 || inv.Reserved(1, usdt) != 4000 || inv.Total(1, usdt) != 100000 {
		t.Fatalf("buy venue: available %d reserved %d total %d", inv.Balance(1, usdt), inv.Reserved(1, usdt), inv.Total(1, usdt))
	}
	if inv.Balance(2, btc) != 3 || inv.Total(2, btc) != 5 {
		t.Fatalf("sell venue: available %d total %d", inv.Balance(2, btc), inv.Total(2, btc))
	}
	inv.Release(&p)
	if inv.Balance(1, usdt) != 100000 || inv.Reserved(1, usdt) != 0 || inv.Reserved(2, btc) != 0 {
		t.Fatal("release did not return the reservation")
	}
}

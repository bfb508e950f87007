package binance

import (
	"strings"
	"testing"
	"time"

	"arb/exchange"
)

// TestClientConfigValidate: every problem is reported with its field;
// defaults fill the rest; the testnet's REST base with /api is accepted.
func TestClientConfigValidate(t *testing.T) {
	var empty ClientConfig
	err := empty.Validate()
	for _, f := range []string{"Venue", "Name", "RESTURL", "WSAPIURL", "Credentials", "Instruments"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("missing %s in %v", f, err)
		}
	}
	bad := ClientConfig{Venue: 1, Name: "b", RESTURL: "https://testnet.binance.vision/api", WSAPIURL: "wss://ws-api.testnet.binance.vision/ws-api/v3",
		Credentials: hmacCreds(t), Instruments: []exchange.Instrument{btcusdt(), btcusdt()}, RecvWindow: 61 * time.Second, OrderEntry: "fix"}
	err = bad.Validate()
	for _, f := range []string{"Instruments[1].Symbol", "Instruments[1].ID", "RecvWindow", "OrderEntry"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("missing %s in %v", f, err)
		}
	}
	good := bad
	good.Instruments = good.Instruments[:1]
	good.RecvWindow, good.OrderEntry = 0, ""
	c, err := NewClient(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.orderURL != "https://testnet.binance.vision/api/v3/order" || c.cfg.OrderWSURL != good.WSAPIURL ||
		c.cfg.RecvWindow != DefaultRecvWindow || c.cfg.OrderEntry != OrderEntryAuto || c.cfg.ReconcileFrom == 0 {
		t.Fatalf("%s %+v", c.orderURL, c.cfg)
	}
	if s := sprintf("%+v", good); strings.Contains(s, fakeSecret) {
		t.Fatal("secret printed")
	}
}

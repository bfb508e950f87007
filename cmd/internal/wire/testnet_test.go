package wire

import (
	"testing"

	"arb/cmd/internal/config"
)

// TestTestnetConfig: configs/testnet.yaml passes the daemon's whole
// validation (preflight included), and every venue in it trades for real
// on keys named by environment variables, none in the file.
func TestTestnetConfig(t *testing.T) {
	c, err := config.Load("../../../configs/testnet.yaml", Known())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range c.Venues {
		if m := tradingMode(c, i); m != modeLive {
			t.Errorf("venue %s trades %s, want live", v.Name, m)
		}
		if v.APIKeyEnv == "" || v.APISecretEnv == "" || v.PrivateWSURL == "" {
			t.Errorf("venue %s: keys or private websocket missing", v.Name)
		}
		if _, err := venueKeys(v, modeLive); err == nil {
			t.Logf("venue %s: its keys are set in this environment", v.Name)
		}
	}
}

package wire

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"

	"arb/configs"
)

// TestStatusWithUnknownExposure: while an instrument with a position has
// no fresh price the residual exposure is NaN (the risk rules refuse every
// plan on it); the execution status must still encode, with the exposure
// null. A CI run found /api/v1/status answering 500 ("json: unsupported
// value: NaN") right after a restart that recovered an open trade.
func TestStatusWithUnknownExposure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := splitConfig(t, `nats: {url: ""}`)
	d, err := Build(ctx, cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		RulesFallback: configs.DefaultRules, RulesFallbackName: configs.DefaultRulesName})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Built, not run: nothing else writes the exposure.
	d.exec.exposure.Store(math.Float64bits(math.NaN()))
	b, err := json.Marshal(d.exec.status())
	if err != nil {
		t.Fatalf("status with an unknown exposure: %v", err)
	}
	if !strings.Contains(string(b), `"residual_exposure_quote":null`) {
		t.Fatalf("status %s", b)
	}
	d.exec.exposure.Store(math.Float64bits(12.345))
	b, _ = json.Marshal(d.exec.status())
	if !strings.Contains(string(b), `"residual_exposure_quote":12.35`) {
		t.Fatalf("status %s", b)
	}
}

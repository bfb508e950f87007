package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestJournalOwner: one daemon holds a journal at a time. A second one
// waiting to acquire is refused with the holder named while the first
// renews; it gets the journal at once after the first stops cleanly (its
// key deleted), and after a holder that died (no renewals) once the key
// goes unrenewed for the TTL. A holder whose key another daemon overwrote
// learns it at its next renewal (ErrOwnershipLost) and stops holding.
func TestJournalOwner(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	b := connect(t, e.ClientURL(), e.InProcess())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ttl = 2 * time.Second
	j := b.Journal()
	owner := func(name string) *JournalOwner {
		o, err := j.Owner(ctx, OwnerInfo{Instance: name, Host: "h", PID: 1, Since: time.Now()}, ttl, nil)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}

	a := owner("a")
	if err := a.Acquire(ctx, 0); err != nil || !a.Held() {
		t.Fatalf("a: %v, held %v", err, a.Held())
	}
	actx, stopA := context.WithCancel(ctx)
	aDone := make(chan error, 1)
	go func() { aDone <- a.Run(actx) }()

	// b waits through several renewals of a's key (longer than the TTL)
	// and is refused, naming a.
	bo := owner("b")
	err := bo.Acquire(ctx, ttl+ttl/2)
	if !errors.Is(err, ErrJournalOwned) || !strings.Contains(err.Error(), "instance a ") || bo.Held() {
		t.Fatalf("b while a renews: %v (held %v)", err, bo.Held())
	}
	if !a.Held() {
		t.Fatal("a stopped holding while renewing")
	}

	// a stops cleanly: b takes the journal without waiting for the TTL.
	stopA()
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if a.Held() {
		t.Fatal("a still holds after its stop")
	}
	if err := bo.Acquire(ctx, ttl/2); err != nil || bo.Waited() != 0 {
		t.Fatalf("b after a's clean stop: %v (waited %v)", err, bo.Waited())
	}

	// b dies (never renews): c takes the journal over once b's key has
	// gone unrenewed for the TTL.
	c := owner("c")
	if err := c.Acquire(ctx, 3*ttl); err != nil {
		t.Fatalf("c after b died: %v", err)
	}
	if w := c.Waited(); w < ttl {
		t.Fatalf("c took a dead holder's journal after %v, before its key went unrenewed for the TTL %v", w, ttl)
	}

	// c holds and renews; another daemon overwrites the key: c's next
	// renewal fails and Run says so.
	cctx, stopC := context.WithCancel(ctx)
	defer stopC()
	cDone := make(chan error, 1)
	go func() { cDone <- c.Run(cctx) }()
	// c's own value written again behind its back — a rewrite stored whose
	// answer was lost: c's next rewrite fails on the revision, finds its
	// own value, and carries on holding.
	cur, err := c.kv.Get(ctx, c.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.kv.Update(ctx, c.key, c.val, cur.Revision()); err != nil {
		t.Fatal(err)
	}
	injected := time.Now().UnixNano()
	for deadline := time.Now().Add(30 * time.Second); c.okAt.Load() < injected+int64(ttl/2); {
		select {
		case err := <-cDone:
			t.Fatalf("c stopped after its own value was rewritten: %v", err)
		case <-time.After(ttl / 8):
		}
		if time.Now().After(deadline) {
			t.Fatal("c did not renew after its own value was rewritten")
		}
	}
	if !c.Held() {
		t.Fatal("c does not hold after renewing")
	}
	if _, err := c.kv.Put(ctx, c.key, []byte(`{"instance":"d","host":"h2","pid":2}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-cDone:
		if !errors.Is(err, ErrOwnershipLost) || !strings.Contains(err.Error(), "instance d ") {
			t.Fatalf("c after d wrote the key: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("c did not notice that d took the journal")
	}
	if c.Held() {
		t.Fatal("c still holds after losing the key")
	}
}

// TestAllocEpoch: epochs from the fleet-wide counter are unique and
// increasing across daemons allocating at once, and never below the
// least asked for.
func TestAllocEpoch(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	b := connect(t, e.ClientURL(), e.InProcess())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var owners []*JournalOwner
	for i := 0; i < 4; i++ {
		o, err := b.JournalIn(StreamName, "x"+string(rune('a'+i))+".exec.").Owner(ctx, OwnerInfo{Instance: "i"}, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		owners = append(owners, o)
	}
	if ep, err := owners[0].AllocEpoch(ctx, 1000); err != nil || ep != 1000 {
		t.Fatalf("first epoch %d %v, want 1000", ep, err)
	}
	got := make(chan uint32, 40)
	errs := make(chan error, 40)
	for _, o := range owners {
		go func() {
			for k := 0; k < 10; k++ {
				ep, err := o.AllocEpoch(ctx, 5)
				if err != nil {
					errs <- err
					return
				}
				got <- ep
			}
		}()
	}
	seen := map[uint32]bool{}
	for len(seen) < 40 {
		select {
		case err := <-errs:
			t.Fatal(err)
		case ep := <-got:
			if seen[ep] || ep <= 1000 || ep > 1040 {
				t.Fatalf("epoch %d: repeated, or outside 1001..1040", ep)
			}
			seen[ep] = true
		case <-ctx.Done():
			t.Fatal("allocations did not finish")
		}
	}
	if ep, err := owners[1].AllocEpoch(ctx, 5000); err != nil || ep != 5000 {
		t.Fatalf("epoch with least 5000: %d %v", ep, err)
	}
}

package ringbuf

import (
	"context"
	"sync"
	"testing"
	"time"
)

// waitParked polls until the consumer of r has announced that it sleeps.
func waitParked(t *testing.T, r ops) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.bell().sleeping.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("consumer never parked")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestWaitWakesParkedConsumer(t *testing.T) {
	for _, k := range kinds {
		for _, how := range []string{"TryPush", "Commit"} {
			t.Run(k.name+"/"+how, func(t *testing.T) {
				r := k.new(4)
				done := make(chan bool)
				go func() { done <- r.Wait(context.Background(), time.Minute) }()
				waitParked(t, r)
				start := time.Now()
				v := uint64(1)
				if how == "TryPush" {
					r.TryPush(&v)
				} else {
					slot, seq, _ := r.claim()
					*slot = v
					r.commit(seq)
				}
				select {
				case ok := <-done:
					if !ok {
						t.Fatal("Wait = false after a push")
					}
				case <-time.After(10 * time.Second):
					t.Fatal("parked consumer not woken by a push")
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Fatalf("wake-up took %v", d)
				}
				if r.bell().sleeping.Load() != 0 {
					t.Fatal("sleeping flag left set after wake-up")
				}
			})
		}
	}
}

// TestWaitMPSCClaimedIsNotReady checks that an uncommitted claim at the head
// does not end a Wait: ready means committed.
func TestWaitMPSCClaimedIsNotReady(t *testing.T) {
	r := NewMPSC[uint64](4)
	_, seq, _ := r.Claim()
	v := uint64(2)
	r.TryPush(&v) // committed, but behind the claim
	start := time.Now()
	if r.Wait(context.Background(), 20*time.Millisecond) {
		t.Fatal("Wait = true while the head slot is only claimed")
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("Wait returned before its timeout")
	}
	r.Commit(seq)
	if !r.Wait(context.Background(), 0) {
		t.Fatal("Wait = false after Commit")
	}
}

func TestWaitTimeoutAndCancel(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name+"/timeout", func(t *testing.T) {
			r := k.new(4)
			for _, d := range []time.Duration{-time.Second, 0, time.Microsecond, 30 * time.Millisecond} {
				start := time.Now()
				if r.Wait(context.Background(), d) {
					t.Fatalf("Wait(%v) on empty ring = true", d)
				}
				if el := time.Since(start); el < d || el > d+2*time.Second {
					t.Fatalf("Wait(%v) took %v", d, el)
				}
			}
			if r.bell().sleeping.Load() != 0 {
				t.Fatal("sleeping flag left set after timeout")
			}
		})
		t.Run(k.name+"/stale token", func(t *testing.T) {
			// A ring nobody needed must not end a later Wait early, whether
			// it is pending before the Wait or arrives while it is parked
			// (the hook posts one just before each park).
			r := k.new(4)
			db := r.bell()
			db.bell <- struct{}{}
			var parks int
			db.parkHook = func() {
				if parks++; parks <= 3 {
					db.wake()
				}
			}
			start := time.Now()
			if r.Wait(context.Background(), 30*time.Millisecond) {
				t.Fatal("Wait = true on empty ring with a stale token")
			}
			if el := time.Since(start); el < 30*time.Millisecond {
				t.Fatalf("stale token ended Wait after %v", el)
			}
			if parks != 4 {
				t.Fatalf("parked %d times, want 4: 3 stale tokens, then the timeout", parks)
			}
		})
		t.Run(k.name+"/late timer", func(t *testing.T) {
			// A Wait that ends with an item leaves its timer armed; when
			// that timer fires during a later, longer Wait it must not end
			// it early.
			r := k.new(4)
			done := make(chan bool)
			go func() { done <- r.Wait(context.Background(), 20*time.Millisecond) }()
			waitParked(t, r)
			v := uint64(1)
			r.TryPush(&v)
			if !<-done || !r.TryPop(&v) {
				t.Fatal("first Wait missed the push")
			}
			time.Sleep(40 * time.Millisecond) // the first timer fires now
			start := time.Now()
			if r.Wait(context.Background(), 100*time.Millisecond) {
				t.Fatal("Wait = true on empty ring")
			}
			if el := time.Since(start); el < 100*time.Millisecond {
				t.Fatalf("an earlier Wait's timer ended this one after %v", el)
			}
		})
		t.Run(k.name+"/cancel", func(t *testing.T) {
			r := k.new(4)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan bool)
			go func() { done <- r.Wait(ctx, time.Minute) }()
			waitParked(t, r)
			cancel()
			select {
			case ok := <-done:
				if ok {
					t.Fatal("Wait = true after cancel on empty ring")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Wait ignored ctx cancellation")
			}
		})
		t.Run(k.name+"/ready beats done ctx", func(t *testing.T) {
			r := k.new(4)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			v := uint64(1)
			r.TryPush(&v)
			if !r.Wait(ctx, time.Second) {
				t.Fatal("Wait = false with an item ready")
			}
		})
	}
}

// TestWaitNoLostWakeup forces the one interleaving that loses a wake-up in a
// naive doorbell: the item is published after the consumer's last check but
// before it announces sleep, so the producer sees nobody parked and does not
// ring. The consumer must find the item by re-checking after announcing
// sleep; without that re-check this Wait would sleep for its full timeout.
func TestWaitNoLostWakeup(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r := k.new(4)
			db := r.bell()
			pushed := false
			db.parkHook = func() {
				if pushed {
					return
				}
				pushed = true
				v := uint64(1)
				r.TryPush(&v) // the producer's view: nobody sleeps, no ring
				if len(db.bell) != 0 {
					t.Error("producer rang although nobody was parked")
				}
			}
			start := time.Now()
			if !r.Wait(context.Background(), 3*time.Second) {
				t.Fatal("wake-up lost: Wait timed out with an item in the ring")
			}
			if el := time.Since(start); el > time.Second {
				t.Fatalf("wake-up lost: item found only after %v", el)
			}
			if !pushed {
				t.Fatal("the hook never ran: the test did not reach the park path")
			}
		})
	}
}

// TestRingOnlyWhenParked specifies the producer's side of the doorbell: no
// channel operation unless the consumer sleeps, and never a blocking one.
func TestRingOnlyWhenParked(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r := k.new(8)
			db := r.bell()
			v := uint64(1)
			r.TryPush(&v)
			if len(db.bell) != 0 {
				t.Fatal("rang with the consumer awake")
			}
			db.sleeping.Store(1)
			r.TryPush(&v)
			slot, seq, _ := r.claim()
			*slot = v
			r.commit(seq) // a second ring must not block on the full bell
			if len(db.bell) != 1 {
				t.Fatalf("bell holds %d tokens, want 1", len(db.bell))
			}
		})
	}
}

// TestWaitPingPong bounces a token between two goroutines through two rings
// many times. The echo side pauses now and then, long enough for the other
// side to get past spinning and yielding and park, so both the fast and the
// parked paths race with pushes. A lost wake-up in any round shows as a Wait
// that times out.
func TestWaitPingPong(t *testing.T) {
	const rounds = 3000
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ping, pong := k.new(2), k.new(2)
			var parks int
			pong.bell().parkHook = func() { parks++ }
			ctx := context.Background()
			var wg sync.WaitGroup
			errc := make(chan string, 1)
			wg.Go(func() {
				var v uint64
				for i := range uint64(rounds) {
					if !ping.Wait(ctx, 10*time.Second) {
						errc <- "echo side: Wait timed out"
						return
					}
					if !ping.TryPop(&v) || v != i {
						errc <- "echo side: wrong value"
						return
					}
					if i%4 == 0 {
						time.Sleep(20 * time.Microsecond)
					}
					pong.TryPush(&v)
				}
			})
			for i := range uint64(rounds) {
				v := i
				ping.TryPush(&v)
				if !pong.Wait(ctx, 10*time.Second) {
					t.Fatalf("round %d: Wait timed out (lost wake-up)", i)
				}
				if !pong.TryPop(&v) || v != i {
					t.Fatalf("round %d: echoed %d", i, v)
				}
			}
			wg.Wait()
			select {
			case e := <-errc:
				t.Fatal(e)
			default:
			}
			if parks < rounds/20 {
				t.Fatalf("consumer parked only %d times in %d rounds: the park path was not exercised", parks, rounds)
			}
			t.Logf("%d parks in %d rounds", parks, rounds)
		})
	}
}

package bus

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"arb/strategy/execute"
)

// journalFor returns a journal in spec's stream: arb.exec. in ARB_EVENTS
// on a fresh embedded server, <stream subjects>exec. on a shared one.
func journalFor(b *Bus, spec StreamSpec) *Journal {
	if spec.Name == StreamName {
		return b.Journal()
	}
	return b.JournalIn(spec.Name, subject(spec, "exec."))
}

func entries(from, n int) []execute.Entry {
	out := make([]execute.Entry, n)
	for i := range out {
		k := from + i
		out[i] = execute.Entry{Subject: execute.SubjectPrefix + []string{"open", "intent", "state", "fill"}[k%4],
			ID: fmt.Sprintf("rec-%d", k), Data: []byte(fmt.Sprintf(`{"n":%d}`, k))}
	}
	return out
}

func replayAll(t *testing.T, j *Journal) []string {
	t.Helper()
	var got []string
	if err := j.Replay(context.Background(), func(b []byte) error { got = append(got, string(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestJournal: appended records come back in order, a record appended again
// with its id is stored once, other subjects of the stream are not
// replayed, an empty journal replays nothing, and the stream passes Check.
func TestJournal(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := tg.bus(t)
			spec := tg.spec(uniqueID())
			if spec.MaxAge < MinJournalAge {
				spec.MaxAge = 2 * MinJournalAge // deleted at the end
			}
			ctx := context.Background()
			if err := b.EnsureStream(ctx, spec); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.JetStream().DeleteStream(context.Background(), spec.Name) })
			j := journalFor(b, spec)
			if err := j.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if got := replayAll(t, j); len(got) != 0 {
				t.Fatalf("empty journal replayed %v", got)
			}
			// Something else in the stream (a plan record) is not a record.
			if err := b.Publish(ctx, subject(spec, "plans.BTC-USDT"), "plan-1", []byte("plan")); err != nil {
				t.Fatal(err)
			}
			if err := j.Append(ctx, entries(0, 3)); err != nil {
				t.Fatal(err)
			}
			// A rebuild republishes what it decides again: the same ids.
			if err := j.Append(ctx, entries(1, 4)); err != nil {
				t.Fatal(err)
			}
			// More than one replay batch.
			for k := 5; k < 1300; k += 100 {
				if err := j.Append(ctx, entries(k, 100)); err != nil {
					t.Fatal(err)
				}
			}
			got := replayAll(t, j)
			if len(got) != 1305 {
				t.Fatalf("replayed %d records, want 1305", len(got))
			}
			for i, g := range got {
				if want := fmt.Sprintf(`{"n":%d}`, i); g != want {
					t.Fatalf("record %d = %s, want %s", i, g, want)
				}
			}
			// fn's error stops the replay and is returned.
			stop := fmt.Errorf("stop")
			n := 0
			err := j.Replay(ctx, func([]byte) error { n++; return stop })
			if err != stop || n != 1 {
				t.Fatalf("Replay = %v after %d records, want stop after 1", err, n)
			}
			if err := j.Append(ctx, []execute.Entry{{Subject: execute.SubjectPrefix + "open", Data: []byte("x")}}); err != ErrNoMsgID {
				t.Fatalf("append without id = %v", err)
			}
		})
	}
}

// TestJournalCheck: a stream that forgets ids too soon or drops records
// too early is refused, naming the setting.
func TestJournalCheck(t *testing.T) {
	b := systemNATSOrEmbedded(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		edit func(*StreamSpec)
		want string
	}{
		{"dedup", func(s *StreamSpec) { s.Dedup = time.Second }, "deduplicates for 1s"},
		{"age", func(s *StreamSpec) { s.MaxAge = time.Hour; s.Dedup = time.Minute * 2 }, "keeps events 1h0m0s"},
	} {
		spec := DefaultStream()
		id := uniqueID()
		spec.Name, spec.Subjects = "ARB_TEST_"+id, []string{"arbtest_" + id + ".>"}
		spec.MaxBytes = 1 << 20
		c.edit(&spec)
		if err := b.EnsureStream(ctx, spec); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.js.DeleteStream(context.Background(), spec.Name) })
		err := journalFor(b, spec).Check(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want %q", c.name, err, c.want)
		}
	}
	if err := b.JournalIn("ARB_NO_SUCH_STREAM", "x.exec.").Check(ctx); err == nil {
		t.Error("Check of a missing stream passed")
	}
}

// systemNATSOrEmbedded is an embedded server: TestJournalCheck creates
// streams it may not be allowed to delete on a shared server.
func systemNATSOrEmbedded(t *testing.T) *Bus {
	e := startEmbedded(t, t.TempDir())
	return connect(t, e.ClientURL(), e.InProcess())
}

// TestJournalFailure: an append that JetStream does not acknowledge (the
// stream is gone) fails and makes the bus non-durable until a probe finds
// the stream again.
func TestJournalFailure(t *testing.T) {
	b := systemNATSOrEmbedded(t)
	ctx := context.Background()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	j := b.JournalIn("ARB_NO_SUCH_STREAM", "arb.exec.")
	err := j.Append(ctx, entries(0, 2))
	if err == nil {
		t.Fatal("append to the wrong stream succeeded")
	}
	if b.Durable() {
		t.Error("bus still durable after a failed append")
	}
}

// BenchmarkJournalAppend: one executor open (three records: open and two
// intents) appended and acknowledged, on the embedded server in process —
// the write-ahead cost in front of every trade's first order.
func BenchmarkJournalAppend(b *testing.B) {
	e, err := StartEmbedded(context.Background(), b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown()
	bs, err := Connect(context.Background(), e.ClientURL(), nil, e.InProcess())
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	if err := bs.EnsureStreams(context.Background()); err != nil {
		b.Fatal(err)
	}
	j := bs.Journal()
	ctx := context.Background()
	lat := make([]int64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := j.Append(ctx, entries(3*i, 3)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, int64(time.Since(t0)))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}

// TestInstanceJournals: a fleet instance's journal (arb.exec.<instance>.)
// and the default one (arb.exec.) share ARB_EVENTS; each replays only its
// own records, so a daemon never rebuilds another's trades.
func TestInstanceJournals(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	b := connect(t, e.ClientURL(), e.InProcess())
	ctx := context.Background()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	def, a := b.Journal(), b.JournalIn(StreamName, JournalPrefix+"engine-a.")
	if err := def.Append(ctx, entries(0, 3)); err != nil {
		t.Fatal(err)
	}
	ea := entries(100, 2)
	for i := range ea {
		ea[i].ID = "a-" + ea[i].ID
	}
	if err := a.Append(ctx, ea); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, def); !slices.Equal(got, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}) {
		t.Errorf("default journal replayed %v", got)
	}
	if got := replayAll(t, a); !slices.Equal(got, []string{`{"n":100}`, `{"n":101}`}) {
		t.Errorf("engine-a's journal replayed %v", got)
	}
	if def.OwnerKey() == a.OwnerKey() {
		t.Errorf("both journals have the ownership key %s", a.OwnerKey())
	}
}

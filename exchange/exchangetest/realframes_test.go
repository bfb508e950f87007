package exchangetest

import (
	"bytes"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestParseSeconds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1633998512.0633569", 1633998512063356900, true},
		{"1786310819.228447", 1786310819228447000, true},
		{"1652459225", 1652459225000000000, true},
		{"1.1234567891", 1123456789, true}, // past ns: dropped, not rounded
		{"", 0, false}, {".5", 0, false}, {"1.5x", 0, false}, {"-1", 0, false}, {"1e9", 0, false},
		{"9223372035.999999999", 9223372035999999999, true},
		{"9223372036", 0, false}, {"12345678901", 0, false}, // beyond int64 ns
	} {
		got, err := ParseSeconds(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSeconds(%q) = %d, %v", c.in, got, err)
		}
	}
}

func TestReadCryptofeed(t *testing.T) {
	ws := "wss://x/ws <-> 1652459224.5300605\n" +
		"wss://x/ws <- 1652459225.2987883: {\"op\":\"subscribe\"}\n" +
		"1652459225.5037491: {\"event\":\"subscribe\",\"note\":\"a <- b: c\"}\n"
	url, msgs, err := ReadCryptofeedWS([]byte(ws))
	if err != nil || url != "wss://x/ws" || len(msgs) != 2 || !msgs[0].Sent || msgs[1].Sent ||
		string(msgs[1].Data) != `{"event":"subscribe","note":"a <- b: c"}` || msgs[1].RecvNs != 1652459225503749100 {
		t.Fatalf("%q %+v %v", url, msgs, err)
	}
	for _, bad := range []string{"", "no header\n", "wss://x <-> 1\nnot a line\n", "wss://x <-> 1\n12x: {}\n"} {
		if _, _, err := ReadCryptofeedWS([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	h, err := ReadCryptofeedHTTP([]byte("https://a/b?c=1 -> 1633998512.320639: {\"x\":1}\nconfiguration: {}\n"))
	if err != nil || len(h) != 1 || h[0].Source != "https://a/b?c=1" || string(h[0].Data) != `{"x":1}` || h[0].RecvNs != 1633998512320639000 {
		t.Fatalf("%+v %v", h, err)
	}
	j, err := ReadCryptofeedJSONL([]byte(`{"t":"recv","conn":"BYBIT.ws.3","ts":1786310819.228447,"data":"{\"topic\":\"x\"}"}` + "\n" +
		`{"t":"http","conn":"BYBIT.http.1","ts":1786310817.601629,"url":"https://u","data":"{}"}` + "\n"))
	if err != nil || len(j) != 2 || j[0].T != "recv" || j[0].Conn != "BYBIT.ws.3" || string(j[0].Data) != `{"topic":"x"}` ||
		j[0].RecvNs != 1786310819228447000 || j[1].Source != "https://u" {
		t.Fatalf("%+v %v", j, err)
	}
	if _, err := ReadCryptofeedJSONL([]byte(`{"t":"recv","ts":1e9}`)); err == nil {
		t.Fatal("accepted an exponent ts")
	}
}

// FuzzParseSeconds: ParseSeconds agrees with exact rational arithmetic
// (math/big) on every input it accepts, and accepts every plain decimal
// of at most 9223372035 seconds.
func FuzzParseSeconds(f *testing.F) {
	f.Add("1633998512.0633569")
	f.Add("0")
	f.Add("9223372035.9999999999")
	f.Add("1.")
	plain := regexp.MustCompile(`^[0-9]+(\.[0-9]*)?$`)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSeconds(s)
		whole, _, _ := strings.Cut(s, ".")
		if plain.MatchString(s) && len(whole) <= 10 && whole <= "9223372035" || plain.MatchString(s) && len(whole) < 10 {
			if err != nil {
				t.Fatalf("refused %q: %v", s, err)
			}
		}
		if err != nil {
			return
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok || !plain.MatchString(s) {
			t.Fatalf("accepted %q, which is no plain decimal", s)
		}
		r.Mul(r, big.NewRat(1e9, 1))
		want := new(big.Int).Quo(r.Num(), r.Denom()) // truncation toward zero
		if want.Cmp(big.NewInt(got)) != 0 {
			t.Fatalf("ParseSeconds(%q) = %d, want %s", s, got, want)
		}
	})
}

// FuzzReadCryptofeed: the three readers never panic, and a recording
// written from what ReadCryptofeedWS returned reads back the same.
func FuzzReadCryptofeed(f *testing.F) {
	f.Add([]byte("wss://x <-> 1.5\n2.25: {\"a\":1}\nwss://x <- 3: {}\n"))
	f.Add([]byte("https://a -> 1.0: {}\n"))
	f.Add([]byte(`{"t":"recv","conn":"c","ts":1.5,"data":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ReadCryptofeedHTTP(b)
		ReadCryptofeedJSONL(b)
		url, msgs, err := ReadCryptofeedWS(b)
		if err != nil {
			return
		}
		var w bytes.Buffer
		fmt.Fprintf(&w, "%s <-> 0\n", url)
		for _, m := range msgs {
			if m.Sent {
				fmt.Fprintf(&w, "%s <- ", m.Source)
			}
			fmt.Fprintf(&w, "%d.%09d: %s\n", m.RecvNs/1e9, m.RecvNs%1e9, m.Data)
		}
		url2, msgs2, err := ReadCryptofeedWS(w.Bytes())
		if err != nil || url2 != url || len(msgs2) != len(msgs) {
			t.Fatalf("round trip: %v %q %d/%d", err, url2, len(msgs2), len(msgs))
		}
		for k := range msgs {
			if msgs[k].RecvNs != msgs2[k].RecvNs || msgs[k].Sent != msgs2[k].Sent || !bytes.Equal(msgs[k].Data, msgs2[k].Data) {
				t.Fatalf("round trip of message %d: %+v vs %+v", k, msgs[k], msgs2[k])
			}
		}
	})
}

// recTB records what RealFrames does with a missing directory.
type recTB struct {
	testing.TB
	fatal, skip string
}

func (r *recTB) Helper() {}
func (r *recTB) Fatalf(format string, a ...any) {
	r.fatal = fmt.Sprintf(format, a...)
	runtime.Goexit()
}
func (r *recTB) Skipf(format string, a ...any) {
	r.skip = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

// TestRealFramesMissing: found from any package directory by walking up to
// go.mod; missing, it skips — except under CI=true, where it fails.
func TestRealFramesMissing(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	pkg := filepath.Join(repo, "a", "b")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pkg)
	run := func() *recTB {
		r := &recTB{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); RealFrames(r) }()
		<-done
		return r
	}
	t.Setenv("CI", "")
	if r := run(); r.skip == "" || r.fatal != "" {
		t.Fatalf("without CI: skip %q fatal %q", r.skip, r.fatal)
	}
	t.Setenv("CI", "true")
	if r := run(); r.fatal == "" || !strings.Contains(r.fatal, "CI must run") {
		t.Fatalf("under CI=true: skip %q fatal %q", r.skip, r.fatal)
	}
	// Present: its absolute path, from the package directory.
	if err := os.MkdirAll(filepath.Join(root, "shared", "realframes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := RealFrames(t); got != filepath.Join(repo, RealFramesDir) {
		t.Fatalf("found %s", got)
	}
}

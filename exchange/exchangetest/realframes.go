package exchangetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Real captured venue data (issue 9). ../shared/realframes/ beside the
// repository root holds sessions and single messages that Binance, OKX and
// Bybit really sent, recorded by other public projects (provenance in its
// SOURCES.md). Tests read them at run time; they are never copied into the
// repository. The readers below parse the recording formats those projects
// wrote (bmoscon/cryptofeed's raw text recordings and its v3 JSON-lines
// format); each is fuzzed (realframes_test.go).

// RealFramesDir is the captures' directory relative to the repository root.
const RealFramesDir = "../shared/realframes"

// RealFrames returns the absolute path of the captures, found from the
// working directory by walking up to the repository root (the directory
// holding go.mod). If they are missing the test is skipped — except under
// CI=true, where a missing directory fails it: the suite must run in CI.
func RealFrames(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = up
	}
	p := filepath.Join(dir, RealFramesDir)
	if st, err := os.Stat(p); err != nil || !st.IsDir() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("captured venue data missing at %s (%v): CI must run the real-data suite", p, err)
		}
		t.Skipf("captured venue data not found at %s", p)
	}
	return p
}

// ReadRealFrame returns the contents of one capture file (a path relative
// to RealFrames), failing the test if it cannot be read.
func ReadRealFrame(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RealFrames(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Capture is one recorded message: its receive time and its bytes.
type Capture struct {
	RecvNs int64  // receive time, Unix ns (exact: parsed from the decimal text)
	Source string // the URL of an HTTP answer, or the connection of a JSON-lines record
	Sent   bool   // sent by the recording client, not received
	Data   []byte
}

var errCaptureLine = errors.New("exchangetest: malformed capture line")

// ParseSeconds converts decimal Unix seconds ("1633998512.0633569") into
// Unix ns exactly (digits past the ninth decimal are dropped, never
// rounded through a float).
func ParseSeconds(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	// At most 9223372035 s (year 2262): ns must fit an int64.
	if whole == "" || len(whole) > 10 || len(whole) == 10 && whole > "9223372035" {
		return 0, errCaptureLine
	}
	var ns int64
	for _, c := range []byte(whole) {
		if c < '0' || c > '9' {
			return 0, errCaptureLine
		}
		ns = ns*10 + int64(c-'0')
	}
	for k := 0; k < 9; k++ {
		ns *= 10
		if k < len(frac) {
			c := frac[k]
			if c < '0' || c > '9' {
				return 0, errCaptureLine
			}
			ns += int64(c - '0')
		}
	}
	for k := 9; k < len(frac); k++ {
		if frac[k] < '0' || frac[k] > '9' {
			return 0, errCaptureLine
		}
	}
	return ns, nil
}

// ReadCryptofeedWS parses cryptofeed's raw websocket recording
// (sample_data/<EXCHANGE>.ws.<n>.<m>): a first line "<url> <-> <seconds>"
// (the connection), then one message a line, "<seconds>: <frame>" for a
// received frame and "<url> <- <seconds>: <frame>" for one the client sent.
// It returns the connection URL and the messages in file order.
func ReadCryptofeedWS(b []byte) (url string, msgs []Capture, err error) {
	lines := bytes.Split(b, []byte("\n"))
	for n, line := range lines {
		if len(line) == 0 {
			continue
		}
		if n == 0 {
			u, ts, ok := strings.Cut(string(line), " <-> ")
			if !ok {
				return "", nil, fmt.Errorf("line 1: %w: no connection header", errCaptureLine)
			}
			if _, err := ParseSeconds(ts); err != nil {
				return "", nil, fmt.Errorf("line 1: %w", err)
			}
			url = u
			continue
		}
		c := Capture{}
		rest := line
		if i := bytes.Index(line, []byte(" <- ")); i >= 0 && (line[0] < '0' || line[0] > '9') {
			c.Sent, c.Source, rest = true, string(line[:i]), line[i+4:]
		}
		i := bytes.Index(rest, []byte(": "))
		if i < 0 {
			return "", nil, fmt.Errorf("line %d: %w", n+1, errCaptureLine)
		}
		if c.RecvNs, err = ParseSeconds(string(rest[:i])); err != nil {
			return "", nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		c.Data = rest[i+2:]
		msgs = append(msgs, c)
	}
	if url == "" {
		return "", nil, fmt.Errorf("%w: empty recording", errCaptureLine)
	}
	return url, msgs, nil
}

// ReadCryptofeedHTTP parses cryptofeed's raw HTTP recording
// (sample_data/<EXCHANGE>.http.<n>.<m> and <EXCHANGE>.0): one answer a
// line, "<url> -> <seconds>: <body>". Other lines (cryptofeed's
// "configuration: …") are skipped.
func ReadCryptofeedHTTP(b []byte) ([]Capture, error) {
	var out []Capture
	for n, line := range bytes.Split(b, []byte("\n")) {
		i := bytes.Index(line, []byte(" -> "))
		if i < 0 {
			continue
		}
		rest := line[i+4:]
		j := bytes.Index(rest, []byte(": "))
		if j < 0 {
			return nil, fmt.Errorf("line %d: %w", n+1, errCaptureLine)
		}
		ts, err := ParseSeconds(string(rest[:j]))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		out = append(out, Capture{RecvNs: ts, Source: string(line[:i]), Data: rest[j+2:]})
	}
	return out, nil
}

// JSONLRecord is one record of cryptofeed's v3 JSON-lines recording:
// T is "header", "connect", "send", "recv" or "http".
type JSONLRecord struct {
	T    string
	Conn string
	Addr string
	URL  string
	Capture
}

// ReadCryptofeedJSONL parses cryptofeed's v3 recording (format 2, the
// decompressed sample_data/<EXCHANGE>.jsonl.zst): one JSON object a line,
// {"t":…,"conn":…,"ts":<seconds>,"data":"<frame>",…}. ts is read from its
// decimal text, exactly.
func ReadCryptofeedJSONL(b []byte) ([]JSONLRecord, error) {
	var out []JSONLRecord
	for n, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r struct {
			T    string      `json:"t"`
			Conn string      `json:"conn"`
			TS   json.Number `json:"ts"`
			Addr string      `json:"addr"`
			URL  string      `json:"url"`
			Data *string     `json:"data"`
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		rec := JSONLRecord{T: r.T, Conn: r.Conn, Addr: r.Addr, URL: r.URL}
		if r.TS != "" {
			ts, err := ParseSeconds(r.TS.String())
			if err != nil {
				return nil, fmt.Errorf("line %d: ts %q: %w", n+1, r.TS, err)
			}
			rec.RecvNs = ts
		}
		rec.Source = r.Conn
		if r.URL != "" {
			rec.Source = r.URL
		}
		rec.Sent = r.T == "send"
		if r.Data != nil {
			rec.Data = []byte(*r.Data)
		}
		out = append(out, rec)
	}
	return out, nil
}

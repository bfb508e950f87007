package execute

import (
	"testing"
)

// FuzzRecord feeds arbitrary bytes to the journal decoder: it must never
// panic, and whatever it accepts must encode back to a record that decodes
// to the same thing (the journal round trip is exact).
func FuzzRecord(f *testing.F) {
	// Seeds: every record of a few scripts.
	for _, path := range []string{"testdata/crash.txt", "testdata/fees.txt", "testdata/unwind_residual.txt", "testdata/fills_missing.txt"} {
		h := newHarness(f)
		blocks, _ := parseScript(f, path)
		for _, b := range blocks {
			h.run(b.cmd)
		}
		for _, d := range h.journal {
			f.Add(d)
		}
	}
	f.Add([]byte(`{"v":1,"kind":"fill"}`))
	f.Add([]byte(`{}`))
	codec := NewCodec(testRegistry())
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := codec.Unmarshal(b)
		if err != nil {
			return
		}
		_ = codec.MsgID(&rec)
		out, err := codec.Marshal(&rec)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v\n%s", err, b)
		}
		back, err := codec.Unmarshal(out)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s\n%s", err, b, out)
		}
		if !sameRecord(&rec, &back) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, back)
		}
	})
}

package num

import "unsafe"

// stringBytes views s as a byte slice without copying. The parsers only read
// their input, so the view is never written through.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

package exchange

import (
	"strings"
	"testing"
	"unsafe"
)

func TestID(t *testing.T) {
	id, ok := MakeID("x0123456789abcdefb01")
	if !ok || id.String() != "x0123456789abcdefb01" || id.Len() != 20 || !ValidClientID(id) {
		t.Fatalf("%v %v", id, ok)
	}
	if b, _ := IDFromBytes([]byte("x0123456789abcdefb01")); b != id {
		t.Fatal("IDFromBytes differs from MakeID")
	}
	if _, ok := MakeID(strings.Repeat("a", IDMax+1)); ok {
		t.Fatal("too long accepted")
	}
	uuid := MustID("fd4300ae-7847-404e-b947-b46980a4d140") // a Bybit execId fits
	if ValidClientID(uuid) {
		t.Fatal("'-' accepted in a client id")
	}
	if ValidClientID(ID{}) || ValidClientID(MustID(strings.Repeat("a", ClientIDMax+1))) {
		t.Fatal("empty or over-long client id accepted")
	}
	if unsafe.Sizeof(ID{}) != 40 {
		t.Fatal(unsafe.Sizeof(ID{}))
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = IDFromBytes([]byte("123456")) }); n != 0 {
		t.Fatal("IDFromBytes allocates")
	}
}

func TestOrderEventsArePointerFree(t *testing.T) {
	// Fill and OrderState travel through queues by value; they must stay
	// fixed-size (these sizes are not a contract, only a tripwire).
	if s := unsafe.Sizeof(Fill{}); s > 256 {
		t.Fatalf("Fill is %d bytes", s)
	}
	// 192 since OrderState carries an order's own fee (on-chain gas).
	if s := unsafe.Sizeof(OrderState{}); s > 192 {
		t.Fatalf("OrderState is %d bytes", s)
	}
}

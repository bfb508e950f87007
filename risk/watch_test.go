package risk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWatchFile: the first read is delivered, a content change is delivered
// once, a rewrite with equal bytes is not, a missing file is reported once
// per streak and recovery is delivered, and the watcher ends with ctx.
func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // how editors and config managers save
			t.Fatal(err)
		}
	}
	write("one")
	var mu sync.Mutex
	var got []string
	var errs []error
	ch := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- WatchFile(ctx, path, 5*time.Millisecond,
			func(b []byte) { mu.Lock(); got = append(got, string(b)); mu.Unlock(); ch <- struct{}{} },
			func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock(); ch <- struct{}{} })
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	wait("first read")
	write("one") // same bytes: no callback
	time.Sleep(30 * time.Millisecond)
	write("two")
	wait("change")
	os.Remove(path)
	wait("missing file error")
	time.Sleep(30 * time.Millisecond) // more ticks with the same error: reported once
	write("three")
	wait("recovery")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchFile returned %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("deliveries %q", got)
	}
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
		t.Fatalf("errors %v", errs)
	}
}

func TestReadFileCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, make([]byte, MaxFileBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); !errors.Is(err, ErrFileTooLarge) {
		t.Fatalf("ReadFile of an oversized file: %v", err)
	}
	if err := WatchFile(context.Background(), path, 0, func([]byte) {}, nil); err == nil {
		t.Fatal("zero interval accepted")
	}
}

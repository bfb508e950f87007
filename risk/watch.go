package risk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrFileTooLarge is returned (to WatchFile's onError, or by ReadFile) for a
// rules file above MaxFileBytes.
var ErrFileTooLarge = errors.New("risk: rules file too large")

// ReadFile reads a rules file, refusing one above MaxFileBytes without
// reading it all.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrFileTooLarge, path, MaxFileBytes)
	}
	return b, nil
}

// WatchFile polls path every interval and calls onChange with the file's
// bytes whenever they differ from the bytes it last delivered, starting with
// the first successful read (so a caller that loaded the file just before
// cannot miss a change made in between; Engine.Reload of unchanged bytes is a
// no-op). It compares content hashes, not modification times, so it sees a
// rewrite within the file system's timestamp granularity and ignores a touch.
// Editors that save by rename are fine: a read that fails (file briefly
// missing, too large) is reported to onError, if set, once per distinct
// error, and retried at the next tick. WatchFile returns ctx.Err() when ctx
// ends; callbacks run on its goroutine and must not block for long.
//
// No fsnotify dependency is available; polling a small file once a second
// costs nothing measurable.
func WatchFile(ctx context.Context, path string, interval time.Duration, onChange func(data []byte), onError func(error)) error {
	if interval <= 0 {
		return fmt.Errorf("risk: watch interval %v must be positive", interval)
	}
	if onChange == nil {
		return errors.New("risk: WatchFile needs onChange")
	}
	var last [32]byte
	delivered := false
	var lastErr string
	poll := func() {
		b, err := ReadFile(path)
		if err != nil {
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				if onError != nil {
					onError(err)
				}
			}
			return
		}
		lastErr = ""
		sum := sha256.Sum256(b)
		if delivered && bytes.Equal(sum[:], last[:]) {
			return
		}
		last, delivered = sum, true
		onChange(b)
	}
	poll()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			poll()
		}
	}
}

package feed

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// LogLimiter lets a read loop log rejections without flooding: at most Burst
// lines per Every nanoseconds; the rest are counted and reported with the next
// line that gets through. Owned by one goroutine except Suppressed.
type LogLimiter struct {
	Logger *slog.Logger
	Every  int64 // window, ns (default 1 s)
	Burst  int   // lines per window (default 5)

	windowStart int64
	inWindow    int
	suppressed  atomic.Uint64
}

// Log writes msg at Warn level with attrs if the budget allows, adding the
// number of lines suppressed since the last one written. now is Unix ns.
func (l *LogLimiter) Log(now int64, msg string, attrs ...slog.Attr) {
	every, burst := l.Every, l.Burst
	if every <= 0 {
		every = 1e9
	}
	if burst <= 0 {
		burst = 5
	}
	if now-l.windowStart >= every {
		l.windowStart, l.inWindow = now, 0
	}
	if l.inWindow >= burst || l.Logger == nil {
		l.suppressed.Add(1)
		return
	}
	l.inWindow++
	if n := l.suppressed.Swap(0); n > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", n))
	}
	l.Logger.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

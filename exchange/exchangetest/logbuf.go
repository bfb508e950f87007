package exchangetest

import (
	"log/slog"
	"strings"
	"sync"
)

// logTail keeps the last lines an adapter logged, to print with a failure.
// slog's text handler writes each record with one Write call, so a Write is
// a line. It is safe for concurrent use and bounded.
type logTail struct {
	mu    sync.Mutex
	lines []string
	next  int
	total int
}

// maxLogLines is how many of the adapter's last log lines a failure shows.
const maxLogLines = 80

// maxLogLine caps one stored line.
const maxLogLine = 600

func newLogTail() *logTail { return &logTail{lines: make([]string, 0, maxLogLines)} }

// Write stores one record.
func (l *logTail) Write(b []byte) (int, error) {
	s := strings.TrimRight(string(b), "\n")
	if len(s) > maxLogLine {
		s = s[:maxLogLine] + "…"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.lines) < maxLogLines {
		l.lines = append(l.lines, s)
		return len(b), nil
	}
	l.lines[l.next] = s
	l.next = (l.next + 1) % maxLogLines
	return len(b), nil
}

// logger returns a text logger (level Info) writing into the tail.
func (l *logTail) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Lines returns the stored lines, oldest first, and how many were logged.
func (l *logTail) Lines() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.lines))
	out = append(out, l.lines[l.next:]...)
	out = append(out, l.lines[:l.next]...)
	return out, l.total
}

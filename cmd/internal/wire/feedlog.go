package wire

import (
	"context"
	"time"
)

// feedPollEvery is how often the daemon looks at its feeds' connection
// state to log changes.
const feedPollEvery = 500 * time.Millisecond

// watchFeeds logs every joined feed's connection changes, one line per
// change ("venue connected", "venue disconnected"), for every venue kind
// alike: some adapters log their own connects and some do not, and an
// operator reading the log must see each venue come up. It reads the
// feeds' atomic stats, so nothing is logged per market event.
func (d *Daemon) watchFeeds(ctx context.Context) error {
	return d.watchFeedsOf(func() []feedEntry {
		if e := d.engine(); e != nil {
			return e.feeds
		}
		return nil
	})(ctx)
}

// watchFeedsOf is watchFeeds over the feeds list returns (a feed process
// has no engine).
func (d *Daemon) watchFeedsOf(list func() []feedEntry) func(context.Context) error {
	return func(ctx context.Context) error {
		up := map[string]bool{}
		t := time.NewTicker(feedPollEvery)
		defer t.Stop()
		for {
			for _, f := range list() {
				st := f.md.Stats()
				now := st.Connected.Load() > 0
				was, seen := up[f.name]
				switch {
				case now && !was:
					d.log.Info("venue connected", "venue", f.name, "kind", f.kind, "reconnects", st.Reconnects.Load())
				case !now && was:
					d.log.Warn("venue disconnected; the adapter reconnects", "venue", f.name, "kind", f.kind)
				case !now && !seen:
					d.log.Info("venue connecting", "venue", f.name, "kind", f.kind)
				}
				up[f.name] = now
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

package wire

import (
	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/httpapi"
)

// The durable log is JetStream (the ARB_EVENTS stream). The design's rule
// is write-ahead: an order is sent only once its intent is stored. So while
// the log cannot store an event — the NATS connection is down or
// reconnecting, the stream does not answer, or it is full — no plan passes
// the desk (it is refused and counted under RuleJournalUnavailable), /readyz
// answers 503 naming the cause, and arb_journal_available is 0. Trading
// resumes by itself once the bus's probe finds the stream again.
//
// The executor wiring asks JournalReady before it sends an order, and still
// treats a failed Publish of the intent as "do not send".

// RuleJournalUnavailable is the rule name and metric reason of a plan
// refused because the durable log could not store its record.
const RuleJournalUnavailable = "journal_unavailable"

const journalRefusal = "the durable log (JetStream) cannot store events: no order is sent whose intent is not durable"

// JournalReady reports whether the durable log can store an event now and,
// if not, why. It is cheap (atomic loads) and safe from any goroutine.
func (d *Daemon) JournalReady() (bool, string) {
	if d.bus == nil {
		return false, "no NATS connection"
	}
	if d.bus.Durable() {
		if d.exec != nil && !d.exec.ownsJournal() {
			return false, "this daemon does not hold the journal's ownership key (" + bus.JournalBucket + "): not acquired yet, or not renewed"
		}
		return true, ""
	}
	st := d.bus.State()
	why := st.LastError
	if why == "" {
		why = "NATS " + st.Status
	}
	return false, why
}

// journalReady is JournalReady's hot-path form (one atomic load).
func (d *Daemon) journalReady() bool {
	return d.bus != nil && d.bus.Durable() && (d.exec == nil || d.exec.ownsJournal())
}

// journalStatus is the durable log's part of /api/v1/status.
func (d *Daemon) journalStatus() httpapi.JournalStatus {
	st := d.bus.State()
	return httpapi.JournalStatus{
		URL: d.natsURL(), Connected: st.Connected, Status: st.Status, Durable: st.Durable,
		Since: st.Since.UTC(), LastError: st.LastError, Disconnects: st.Disconnects, Reconnects: st.Reconnects,
	}
}

func (d *Daemon) registerJournalMetrics(reg *prometheus.Registry) {
	reg.MustRegister(httpapi.NewGaugeFamily("arb_nats_connected",
		"1 while the NATS connection is up; 0 while it is down or reconnecting.", nil, func(emit httpapi.Emit) {
			v := 0.0
			if d.bus.State().Connected {
				v = 1
			}
			emit(v)
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_journal_available",
		"1 while the durable log (JetStream stream ARB_EVENTS) can store events; 0 while it cannot, and no plan passes.",
		nil, func(emit httpapi.Emit) {
			v := 0.0
			if d.bus.Durable() {
				v = 1
			}
			emit(v)
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_nats_disconnects_total",
		"NATS connections lost (each is followed by reconnect attempts).", nil, func(emit httpapi.Emit) {
			emit(float64(d.bus.State().Disconnects))
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_nats_reconnects_total",
		"NATS reconnections.", nil, func(emit httpapi.Emit) { emit(float64(d.bus.State().Reconnects)) }))
}

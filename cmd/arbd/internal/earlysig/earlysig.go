// Package earlysig routes arbd's signals to a channel as early as a Go
// program can: in a package initializer that runs before the daemon's
// heavy dependencies are initialized.
//
// Until a program calls signal.Notify for SIGHUP, the Go runtime lets it
// take its default action and the process dies. arbd's main runs only after
// every package of the binary is initialized — nats-server, Prometheus,
// expr, the adapters — which takes tens to hundreds of milliseconds on a
// loaded machine, and a SIGHUP sent by a supervisor in that window (a config
// push, a log rotation) would kill the daemon. Go initializes packages in
// import-path order among those whose imports are ready, and this package
// imports only os, os/signal and syscall, and sorts before every
// github.com/ path, so its init runs within milliseconds of the runtime's.
//
// Only the runtime's own start-up (a few milliseconds, before any Go code
// runs) is left unprotected; no Go program can do better.
package earlysig

import (
	"os"
	"os/signal"
	"syscall"
)

// Handled are the signals arbd acts on.
var Handled = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// ch queues signals from process start until main reads them.
var ch = make(chan os.Signal, 16)

func init() {
	signal.Notify(ch, Handled...)
	// A log reader that goes away (a dying log shipper on stderr) must not
	// kill the trader: a write to the broken pipe fails instead.
	signal.Ignore(syscall.SIGPIPE)
}

// Channel returns the channel the handled signals have been queued on
// since the process started. Notify and Stop work on it as on any other.
func Channel() chan os.Signal { return ch }

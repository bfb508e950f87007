package wire

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"arb/cmd/internal/httpapi"
	"arb/risk"
)

// rulesFile is the operator's rules file as the daemon sees it. The rules
// in force change only when a file (or a KV value, rulesig.go) that loads
// is read: a file that is missing, unreadable or broken at a reload keeps
// the running rules, and the state shows in the status and in
// arb_risk_rules_file_readable until the file is readable again.
//
// The embedded default config may start without the file (arbd run outside
// the repository): then, and only then, the embedded copy of the default
// rules is loaded, and the file is loaded as soon as it appears. A reload
// never falls back to the embedded rules: the operator's rules stay in
// force while their file is briefly missing.
type rulesFile struct {
	path         string
	fallback     []byte // embedded default rules, for a start without the file
	fallbackName string

	mu     sync.Mutex
	st     httpapi.RulesFileStatus
	err    string   // the last read error, for logging each distinct one once
	loaded [32]byte // hash of the file's bytes last loaded (start, reloads, watcher)
	have   bool
}

func newRulesFile(path string, fallback []byte, fallbackName string) *rulesFile {
	return &rulesFile{path: path, fallback: fallback, fallbackName: fallbackName,
		st: httpapi.RulesFileStatus{Path: path, Readable: true, Since: time.Now().UTC()}}
}

// read returns the file's bytes and records whether it could be read. It
// reports whether the state changed (readable ↔ not, or a new error).
func (r *rulesFile) read() ([]byte, bool, error) {
	b, err := risk.ReadFile(r.path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		msg := err.Error()
		changed := r.st.Readable || r.err != msg
		if r.st.Readable {
			r.st.Since = time.Now().UTC()
		}
		r.st.Readable, r.st.Error, r.err = false, msg, msg
		return nil, changed, err
	}
	changed := !r.st.Readable
	if changed {
		r.st.Since = time.Now().UTC()
	}
	r.st.Readable, r.st.Error, r.err = true, "", ""
	return b, changed, nil
}

// status returns the file's state for /api/v1/status.
func (r *rulesFile) status() httpapi.RulesFileStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// loadedFile records that b, read from the file, loaded and is in force.
func (r *rulesFile) loadedFile(b []byte) {
	r.mu.Lock()
	r.st.InForce = "file"
	r.loaded, r.have = sha256.Sum256(b), true
	r.mu.Unlock()
}

// loadedHash returns the hash of the file's bytes last loaded, if any.
func (r *rulesFile) loadedHash() ([32]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded, r.have
}

func (r *rulesFile) setInForce(what string) {
	r.mu.Lock()
	r.st.InForce = what
	r.mu.Unlock()
}

// loadRulesAtStart loads the rules file, or, for the embedded default only,
// the embedded rules when the file does not exist. Any other failure stops
// the start: there are no running rules to keep.
func (k *desk) loadRulesAtStart() error {
	b, _, err := k.rules.read()
	if err == nil {
		_, err = k.reload(b, k.rules.path)
		if err == nil {
			k.rules.loadedFile(b)
		}
		return err
	}
	if errors.Is(err, fs.ErrNotExist) && k.rules.fallback != nil {
		k.log.Warn("rules file not found; starting on the embedded default rules until it appears", "rules_file", k.rules.path)
		if _, err := k.reload(k.rules.fallback, k.rules.fallbackName); err != nil {
			return err
		}
		k.rules.setInForce("embedded default")
		return nil
	}
	return err
}

// reloadFile re-reads the rules file (SIGHUP, POST /api/v1/rules/reload).
// A file that cannot be read or does not load is an error, logged and
// shown in the status, and the running rules stay in force.
func (k *desk) reloadFile() (string, error) {
	b, changed, err := k.rules.read()
	if err != nil {
		v, _ := k.risk.Version()
		if changed {
			k.log.Error("rules file unreadable; the running rules stay in force", "rules_file", k.rules.path, "err", err, "in_force", v.String())
		}
		return "", fmt.Errorf("rules file %s cannot be read (%w); the running rules stay in force (%s)", k.rules.path, err, v.String())
	}
	if changed {
		k.log.Info("rules file readable again", "rules_file", k.rules.path)
	}
	v, err := k.reload(b, k.rules.path)
	if err == nil {
		k.rules.loadedFile(b)
	}
	return v, err
}

// watchRules polls the rules file every rulesPollWait until ctx ends. It
// loads the file whenever its content differs from what it saw last (at
// first, what was loaded at start), or when it becomes readable again after
// a failure: a file put back after a broken or missing spell, or the file
// appearing after a start on the embedded rules. Loading the rules already
// in force changes nothing but clears the last reload error. A read failure
// is logged once per distinct error and keeps the running rules; a file
// that does not load is logged (by reload) once per distinct content.
func (k *desk) watchRules(ctx context.Context) error {
	seen, have := k.rules.loadedHash()
	poll := func() {
		b, changed, err := k.rules.read()
		if err != nil {
			if changed {
				v, _ := k.risk.Version()
				k.log.Warn("rules file unreadable; the running rules stay in force", "rules_file", k.rules.path, "err", err, "in_force", v.String())
			}
			return
		}
		if changed {
			k.log.Info("rules file readable again", "rules_file", k.rules.path)
		}
		sum := sha256.Sum256(b)
		if have && !changed && sum == seen {
			return
		}
		seen, have = sum, true
		if _, err := k.reload(b, k.rules.path); err == nil {
			k.rules.loadedFile(b)
		}
	}
	t := time.NewTicker(rulesPollWait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			poll()
		}
	}
}

package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"arb/risk"
)

// KillSwitchFile is the kill switch's state in data_dir. A halt lives in
// the risk engine's memory; this file is what makes it outlive a crash, an
// OOM kill, a deploy or a reboot: the daemon reads it before the strategy
// loop takes its first plan, and only an explicit resume clears it.
const KillSwitchFile = "killswitch.json"

// haltRecord is the file's content. Halted false with a Released* trail
// records the last resume, for the operator reading the file.
type haltRecord struct {
	Halted     bool      `json:"halted"`
	Reason     string    `json:"reason,omitempty"`
	By         string    `json:"by,omitempty"`
	Rule       string    `json:"rule,omitempty"`
	At         time.Time `json:"at,omitzero"`
	ReleasedAt time.Time `json:"released_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
	PID        int       `json:"pid"`
	// FleetRevision is the revision of the fleet's kill switch (the
	// fleet.kill_switch_bucket key) this state was last in step with: at
	// start, a halt saved after it is shared with the fleet, one the fleet
	// has since resumed stays local (fleet.go).
	FleetRevision uint64 `json:"fleet_revision,omitempty"`
}

// haltStore persists the kill switch to data_dir/KillSwitchFile. Every
// write replaces the file atomically (temporary file, fsync, rename, fsync
// of the directory), so a crash leaves either the old state or the new one,
// never a torn file. Its methods are safe for concurrent use.
type haltStore struct {
	path string
	now  func() time.Time

	mu       sync.Mutex    // serialises sync: each write reflects the state read under it
	fleetRev atomic.Uint64 // written with every state (haltRecord.FleetRevision); load sets it
	errs     atomic.Uint64
	lastErr  atomic.Pointer[string]
}

func newHaltStore(dataDir string) *haltStore {
	return &haltStore{path: filepath.Join(dataDir, KillSwitchFile), now: time.Now}
}

// load returns the saved state. A missing file means trading was never
// halted here. A file that cannot be read or parsed is an error: the caller
// must then halt (fail safe), since the file may have said "halted".
func (s *haltStore) load() (risk.HaltState, bool, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return risk.HaltState{}, false, nil
	}
	if err != nil {
		return risk.HaltState{}, false, fmt.Errorf("kill switch state %s: %w", s.path, err)
	}
	var r haltRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return risk.HaltState{}, false, fmt.Errorf("kill switch state %s: %w", s.path, err)
	}
	s.fleetRev.Store(r.FleetRevision)
	if !r.Halted {
		return risk.HaltState{}, false, nil
	}
	return risk.HaltState{Reason: r.Reason, By: r.By, Rule: r.Rule, At: r.At}, true, nil
}

// restore gives the saved state to eng before any plan is evaluated. A state
// that cannot be read halts trading, naming why: a kill switch that might
// have been engaged is treated as engaged until an operator resumes.
func (s *haltStore) restore(eng *risk.Engine) (risk.HaltState, bool, error) {
	h, halted, err := s.load()
	if err != nil {
		h = risk.HaltState{Reason: "kill switch state unreadable at start (" + err.Error() + "); halted until an operator resumes",
			By: "arbd", At: s.now()}
		eng.Restore(h)
		return h, true, err
	}
	if halted {
		eng.Restore(h)
	}
	return h, halted, nil
}

// sync writes eng's current kill-switch state. Callers call it after every
// change; since each call reads the state under the lock, the last write
// always holds the latest state, whatever the order of concurrent changes.
func (s *haltStore) sync(eng *risk.Engine) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, halted := eng.Halted()
	r := haltRecord{Halted: halted, UpdatedAt: s.now().UTC(), PID: os.Getpid(), FleetRevision: s.fleetRev.Load()}
	if halted {
		r.Reason, r.By, r.Rule, r.At = h.Reason, h.By, h.Rule, h.At.UTC()
	} else {
		r.ReleasedAt = r.UpdatedAt
	}
	err := s.write(r)
	if err != nil {
		s.errs.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		return err
	}
	s.lastErr.Store(nil)
	return nil
}

func (s *haltStore) write(r haltRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, KillSwitchFile+".tmp*")
	if err != nil {
		return fmt.Errorf("saving the kill switch: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the kill switch: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the kill switch: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the kill switch: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("saving the kill switch: %w", err)
	}
	// The rename is durable only once the directory is on disk.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("saving the kill switch: %w", err)
		}
	}
	return nil
}

// lastError returns the last write's error, "" after a good write.
func (s *haltStore) lastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

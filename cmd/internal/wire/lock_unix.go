//go:build unix

package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes an exclusive advisory lock on dataDir/arbd.lock, so two
// daemons never share one JetStream store (which would corrupt it). The lock
// is released when the returned file is closed or the process ends, even if
// it crashes.
func lockDataDir(dataDir string) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, "arbd.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dataDir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		owner := strings.TrimSpace(string(b))
		if owner == "" {
			owner = "unknown"
		}
		return nil, fmt.Errorf("data_dir %s is in use by another arbd (pid %s); give this one its own data_dir", dataDir, owner)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

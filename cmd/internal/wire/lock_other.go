//go:build !unix

package wire

import (
	"fmt"
	"os"
)

// lockDataDir on platforms without flock only makes sure the directory
// exists; running two daemons on one data_dir is the operator's to avoid.
func lockDataDir(dataDir string) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dataDir, err)
	}
	return nil, nil
}

package wire

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
)

// BuildInfo identifies the running binary: the module version the Go
// toolchain stamped into it and the VCS revision it was built from, so an
// operator can tell exactly which code is trading.
type BuildInfo struct {
	Module   string // "arb"
	Version  string // module version: a tag, a pseudo-version, or "(devel)"
	Revision string // VCS commit, "" when built outside a checkout (go build -buildvcs=false, git archive)
	Time     string // commit time, RFC 3339
	Modified bool   // the checkout had uncommitted changes
	Go       string // toolchain version
}

// linkRevision and linkVersion may be set at link time for builds the
// toolchain cannot stamp with VCS information (a linked git worktree,
// golang/go#58218; -buildvcs=false; a source tarball):
//
//	go build -ldflags "-X arb/cmd/internal/wire.linkRevision=$(git rev-parse HEAD)" ./cmd/arbd
//
// The toolchain's own stamp wins when there is one.
var linkRevision, linkVersion string

// ReadBuildInfo returns the binary's build information from
// runtime/debug.ReadBuildInfo (and the link-time values above); fields the
// binary does not carry stay empty (Version "(devel)" when unknown).
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Module: "arb", Version: "(devel)", Go: runtime.Version(), Revision: linkRevision}
	if linkVersion != "" {
		b.Version = linkVersion
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Path != "" {
		b.Module = bi.Main.Path
	}
	if bi.Main.Version != "" && (bi.Main.Version != "(devel)" || linkVersion == "") {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one-line form `arbd --version` and `arb version` print:
// "arb v0.0.0-20260301120000-0123456789ab (revision 0123456789ab…, 2026-03-01T12:00:00Z, modified) go1.26.8".
func (b BuildInfo) String() string {
	var s strings.Builder
	s.WriteString(b.Module)
	s.WriteByte(' ')
	s.WriteString(b.Version)
	s.WriteString(" (revision ")
	if b.Revision == "" {
		s.WriteString("unknown")
	} else {
		s.WriteString(b.Revision)
	}
	if b.Time != "" {
		s.WriteString(", ")
		s.WriteString(b.Time)
	}
	if b.Modified {
		s.WriteString(", modified")
	}
	s.WriteString(") ")
	s.WriteString(b.Go)
	return s.String()
}

// LogAttrs returns the build information as log attributes, for the
// daemon's start-up line.
func (b BuildInfo) LogAttrs() []any {
	return []any{slog.String("version", b.Version), slog.String("revision", b.Revision),
		slog.Bool("modified", b.Modified), slog.String("vcs_time", b.Time), slog.String("go", b.Go)}
}

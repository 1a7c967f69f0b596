// Package version says which qctl this is, from what the Go toolchain records in the binary, so a
// bug report can name the build without a release process stamping it in.
package version

import (
	"fmt"
	"runtime/debug"
)

// Info is the build of the running binary.
type Info struct {
	Version  string // the module version, "(devel)" for a build from a checkout
	Commit   string // the VCS revision, "" when the build did not record one
	Modified bool   // the checkout had uncommitted changes
	Go       string // the Go toolchain that built it
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", Go: "unknown"}
	}
	info := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one line `qctl --version` prints: "qctl v1.2.0 (commit 43c521c, go1.26.8)".
func (i Info) String() string {
	commit := i.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	switch {
	case commit == "":
		commit = "unknown"
	case i.Modified:
		commit += "+dirty"
	}
	return fmt.Sprintf("qctl %s (commit %s, %s)", i.Version, commit, i.Go)
}

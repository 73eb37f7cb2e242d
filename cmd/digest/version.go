package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are normally read from the build information Go
// stamps into the binary (the module version, and the VCS revision for a
// `go build` in a git checkout). A release build may set them instead:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)" -o bin/digest ./cmd/digest
var version, commit string

// buildVersion is what `digest version` prints: the version, the commit
// (with +dirty for a build from modified files) and the Go toolchain.
type buildVersion struct {
	Version, Commit, Go string
}

func readVersion() buildVersion {
	v := buildVersion{Version: version, Commit: commit, Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v.withDefaults()
	}
	v.Go = info.GoVersion
	if v.Version == "" && info.Main.Version != "(devel)" {
		v.Version = info.Main.Version
	}
	if v.Commit == "" {
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && v.Commit != "" {
			v.Commit += "+dirty"
		}
	}
	return v.withDefaults()
}

func (v buildVersion) withDefaults() buildVersion {
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "unknown" // go run and go test stamp no revision
	}
	return v
}

func versionLine() string {
	v := readVersion()
	return fmt.Sprintf("digest %s (commit %s, %s %s/%s)", v.Version, v.Commit, v.Go, runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(g.stdout, versionLine())
			return err
		},
	}
}

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// rusageEnv set makes this program the measuring middle process: it runs
// its arguments as a command and writes the command's peak RSS to fd 3.
//
// The trap it works around: os/exec starts a child with vfork (CLONE_VM),
// and at exec Linux folds the shared address space's high-water RSS, the
// parent's, into the child's ru_maxrss. A bench process that seeded a
// million subscribers in memory reports its own peak as every child's
// (a /bin/true started from a process holding 100 MB reports 103 MB). The
// middle process is small, so the peak wait4 gives it for its own child is
// that child's.
const rusageEnv = "DIGEST_BENCH_RUSAGE"

// measured wraps cmd so that it runs under the middle process; maxRSS
// reads what the middle process reported once the wrapped command ended.
func measured(cmd *exec.Cmd) (wrapped *exec.Cmd, maxRSS func() (float64, error), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	m := exec.Command(self, append([]string{cmd.Path}, cmd.Args[1:]...)...)
	m.Env = append(slices.Clone(env), rusageEnv+"=1")
	m.Stdin, m.Stdout, m.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	m.ExtraFiles = []*os.File{w}
	read := func() (float64, error) {
		_ = w.Close() // the middle process holds its own copy
		defer r.Close()
		var kb int64
		if _, err := fmt.Fscan(r, &kb); err != nil {
			return 0, fmt.Errorf("peak RSS from the middle process: %w", err)
		}
		return float64(kb) / 1024, nil
	}
	return m, read, nil
}

// rusageChild is the middle process. Its child dies with it (Pdeathsig).
func rusageChild() {
	args := os.Args[1:]
	c := exec.Command(args[0], args[1:]...)
	c.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, rusageEnv+"=") })
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := c.Run()
	out := os.NewFile(3, "rusage")
	if c.ProcessState != nil {
		fmt.Fprintln(out, strconv.FormatInt(c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, 10))
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
}

//go:build unix

package fetcher

import "syscall"

// nonBlocking opens a named pipe without waiting for a writer; on a
// regular file it changes nothing.
const nonBlocking = syscall.O_NONBLOCK

// noFollow makes opening a symbolic link fail.
const noFollow = syscall.O_NOFOLLOW

//go:build !unix

package fetcher

// nonBlocking: elsewhere opening has no such flag; the regular-file check
// after opening still applies.
const nonBlocking = 0

// noFollow makes opening a symbolic link fail.
const noFollow = 0

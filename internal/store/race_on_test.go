//go:build race

package store

// raceEnabled: the race detector slows modernc's SQLite some twentyfold, so
// the large-volume tests shrink or skip under it.
const raceEnabled = true

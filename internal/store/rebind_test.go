package store

import "testing"

// TestRebind: every ? placeholder becomes $n in order; a ? inside a string,
// a quoted identifier or a -- comment is text, not a placeholder.
func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT ? , ?", "SELECT $1 , $2"},
		{"WHERE a = ? AND b IN (?, '')", "WHERE a = $1 AND b IN ($2, '')"},
		{"WHERE a = '?' AND b = ?", "WHERE a = '?' AND b = $1"},
		{`WHERE "we?ird" = ?`, `WHERE "we?ird" = $1`},
		{"WHERE a = 'it''s ?' AND b = ?", "WHERE a = 'it''s ?' AND b = $1"},
		{"-- why? because\nSELECT ?", "-- why? because\nSELECT $1"},
		{"SELECT ? -- trailing?", "SELECT $1 -- trailing?"},
		{"SELECT a - ? - ?", "SELECT a - $1 - $2"},
	} {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

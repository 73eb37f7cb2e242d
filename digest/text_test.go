package digest

import (
	"strings"
	"testing"

	"github.com/digest-newsletter/digest/digest/spill"
)

func TestTextInMemoryAndSpilled(t *testing.T) {
	f, err := spill.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	body := "Größere Meldung: " + strings.Repeat("word ", 100)
	for _, tc := range []struct {
		name string
		text Text
	}{
		{"memory", NewText(body)},
		{"spilled", NewText(body).Spill(f)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.text.String() != body || tc.text.Len() != len(body) || tc.text.Blank() {
				t.Fatalf("got %.30q (len %d, blank %v), want the body", tc.text.String(), tc.text.Len(), tc.text.Blank())
			}
			// "Größere" has two-byte letters: a lead never ends inside one.
			if got := tc.text.Lead(3); got != "Gr" {
				t.Errorf("Lead(3) = %q, want %q", got, "Gr")
			}
			if got := tc.text.Lead(1 << 20); got != body {
				t.Errorf("Lead(more than the text) = %.30q, want the whole text", got)
			}
		})
	}
	if f.Size() != int64(len(body)) {
		t.Errorf("spill file holds %d bytes, want %d", f.Size(), len(body))
	}
}

func TestTextStaysInMemoryWhenSpillCannotTakeIt(t *testing.T) {
	f, err := spill.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tx := range []Text{
		NewText("kept").Spill(f),   // the file takes nothing
		NewText("kept").Spill(nil), // no file
	} {
		if tx.String() != "kept" {
			t.Errorf("text lost: %q", tx.String())
		}
	}
	// Blank texts are not worth a write.
	if blank := NewText("  \n").Spill(nil); !blank.Blank() {
		t.Error("white space is blank")
	}
	var zero Text
	if !zero.Blank() || zero.Len() != 0 || zero.String() != "" {
		t.Error("the zero Text is empty")
	}
}

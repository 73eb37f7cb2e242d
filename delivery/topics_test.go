package delivery

import (
	"slices"
	"testing"

	"github.com/digest-newsletter/digest/digest"
)

// A reader chooses among the configured topics and "More"; automatic
// topics come with "More", and choosing everything is the whole digest.
func TestVariantKeyMore(t *testing.T) {
	d := &digest.Digest{Topics: []digest.Topic{
		{Name: "Security"}, {Name: "arsenal · league", Auto: true}, {Name: digest.MoreTopic},
	}}
	v := newVariants(nil, d)
	for _, tt := range []struct {
		chose, keep []string
	}{
		{[]string{"More"}, []string{"More"}},
		{[]string{"Security"}, []string{"Security"}},
		{[]string{"Security", "More"}, nil},
		{[]string{"arsenal · league"}, nil}, // not a choice: ignored, so everything
	} {
		if _, keep := v.key(tt.chose); !slices.Equal(keep, tt.keep) {
			t.Errorf("chose %v: render %v, want %v", tt.chose, keep, tt.keep)
		}
	}
}

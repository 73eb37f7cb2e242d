package delivery

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/mailer"
)

// variants renders each distinct topic set once per issue, and lays out
// each rendering's message once.
type variants struct {
	r       Renderer
	d       *digest.Digest
	mu      sync.Mutex
	cache   map[string]*render.Rendered
	layouts map[string]*mailer.Layout
	names   map[string]bool
	// issueURL is the issue's archive page, given to every rendering
	// before it is shared ("" in a dry run or with the archive off).
	issueURL string
}

func newVariants(r Renderer, d *digest.Digest) *variants {
	// The topics a reader can choose: the configured ones this issue has,
	// and "More" for the catch-all and the automatic topics.
	names := map[string]bool{}
	for _, t := range d.Topics {
		if t.Auto {
			names[digest.MoreTopic] = true
		} else {
			names[t.Name] = true
		}
	}
	return &variants{r: r, d: d, cache: map[string]*render.Rendered{}, layouts: map[string]*mailer.Layout{}, names: names}
}

// key maps a subscriber's topics to the topic set rendered for them.
// Topics the issue does not have are ignored; a subscriber with none of
// this issue's topics (or none chosen) gets the whole digest, since an
// empty email helps nobody.
func (v *variants) key(topics []string) (string, []string) {
	var keep []string
	for _, t := range topics {
		if v.names[t] {
			keep = append(keep, t)
		}
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	if len(keep) == len(v.names) {
		keep = nil
	}
	return strings.Join(keep, "\x00"), keep
}

// get returns the rendering for a subscriber's topics, rendering each
// distinct set once per issue.
func (v *variants) get(topics []string) (*render.Rendered, error) {
	key, keep := v.key(topics)
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.cache[key]; ok {
		return r, nil
	}
	r, err := v.r.Render(v.d, keep)
	if err != nil {
		return nil, err
	}
	r.SetIssueURL(v.issueURL)
	v.cache[key] = r
	return r, nil
}

// layout returns the rendering for a subscriber's topics and its message
// layout, made by mk once per distinct set.
func (v *variants) layout(topics []string, mk func(*render.Rendered) (*mailer.Layout, error)) (*render.Rendered, *mailer.Layout, error) {
	rd, err := v.get(topics)
	if err != nil {
		return nil, nil, err
	}
	key, _ := v.key(topics)
	v.mu.Lock()
	defer v.mu.Unlock()
	if l, ok := v.layouts[key]; ok {
		return rd, l, nil
	}
	l, err := mk(rd)
	if err != nil {
		return nil, nil, err
	}
	v.layouts[key] = l
	return rd, l, nil
}

// freeze encodes every rendering made so far, for the issue's payload.
func (v *variants) freeze() (map[string][]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string][]byte, len(v.cache))
	for k, r := range v.cache {
		b, err := r.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("delivery: freeze: %w", err)
		}
		out[k] = b
	}
	return out, nil
}

// thaw loads the renderings frozen with the issue, so a resumed send is
// byte-for-byte what the first recipients got, even after a template edit.
func (v *variants) thaw(frozen map[string][]byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, b := range frozen {
		r := new(render.Rendered)
		if err := r.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("delivery: frozen rendering: %w", err)
		}
		r.SetIssueURL(v.issueURL)
		v.cache[k] = r
	}
	return nil
}

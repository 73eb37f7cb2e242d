package render

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// TopicSetKey is a canonical key for a topic filter (order and case do not
// matter; nil and empty mean all topics), so a sender can keep one Rendered
// per distinct set and Render each set once.
func TopicSetKey(topics []string) string {
	if len(topics) == 0 {
		return "*"
	}
	ts := make([]string, 0, len(topics))
	seen := map[string]bool{}
	for _, t := range topics {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !seen[t] {
			seen[t] = true
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return "*"
	}
	sort.Strings(ts)
	return strings.Join(ts, "\x1f")
}

// storedRendered is the frozen form of a Rendered: an issue is stored
// before its first message leaves, so a resumed send after a crash or a
// template edit sends exactly what the first recipients got.
type storedRendered struct {
	Version   int         `json:"v"`
	Subject   string      `json:"subject"`
	Preheader string      `json:"preheader"`
	Articles  int         `json:"articles"`
	Truncated bool        `json:"truncated,omitempty"`
	PerTopic  int         `json:"per_topic"`
	Fallback  string      `json:"fallback"`
	BaseURL   string      `json:"base_url"`
	HTML      []storedSeg `json:"html"`
	Text      []storedSeg `json:"text"`
}

type storedSeg struct {
	Lit  string `json:"l"`
	Slot slot   `json:"s,omitempty"`
}

// MarshalBinary encodes r (as JSON) for storage with its issue.
func (r *Rendered) MarshalBinary() ([]byte, error) {
	s := storedRendered{
		Version: 1, Subject: r.Subject, Preheader: r.Preheader, Articles: r.Articles,
		Truncated: r.Truncated, PerTopic: r.PerTopic, Fallback: r.fallback, BaseURL: r.baseURL,
		HTML: storeBody(r.html), Text: storeBody(r.text),
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("render: encode: %w", err)
	}
	return b, nil
}

// UnmarshalBinary restores a Rendered written by MarshalBinary.
func (r *Rendered) UnmarshalBinary(data []byte) error {
	var s storedRendered
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("render: decode: %w", err)
	}
	if s.Version != 1 {
		return fmt.Errorf("render: decode: unknown version %d", s.Version)
	}
	html, err := loadBody(s.HTML)
	if err != nil {
		return err
	}
	text, err := loadBody(s.Text)
	if err != nil {
		return err
	}
	*r = Rendered{
		Subject: s.Subject, Preheader: s.Preheader, Articles: s.Articles,
		Truncated: s.Truncated, PerTopic: s.PerTopic,
		fallback: s.Fallback, baseURL: s.BaseURL, html: html, text: text,
	}
	return nil
}

func storeBody(b body) []storedSeg {
	out := make([]storedSeg, len(b.segs))
	for i, sg := range b.segs {
		out[i] = storedSeg{Lit: string(sg.lit), Slot: sg.slot}
	}
	return out
}

func loadBody(ss []storedSeg) (body, error) {
	var b body
	for _, s := range ss {
		if s.Slot >= numSlots {
			return body{}, fmt.Errorf("render: decode: bad slot %d", s.Slot)
		}
		b.segs = append(b.segs, segment{lit: []byte(s.Lit), slot: s.Slot})
		b.static += len(s.Lit)
		b.count[s.Slot]++
	}
	b.count[slotNone] = 0
	return b, nil
}

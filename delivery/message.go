package delivery

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"

	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
)

// recipient is one message to build.
type recipient struct {
	deliveryID   int64
	subscriberID int64
	stamp        int64
	email, name  string
	topics       []string
	attempts     int    // SMTP attempts recorded before this send
	seq          uint64 // hand-out order in this pass (the breaker's clock)
}

func (rc recipient) subject() links.Subject {
	return links.Subject{ID: rc.subscriberID, Stamp: rc.stamp}
}

// message builds one recipient's email: its values in the layout of the
// rendering for its topics.
func (s *Sender) message(issue store.Issue, v *variants, rc recipient) (*mailer.Copy, error) {
	rd, layout, err := v.layout(rc.topics, func(rd *render.Rendered) (*mailer.Layout, error) { return s.layout(issue, rd) })
	if err != nil {
		return nil, err
	}
	unsub, prefs := s.links(issue, rc.subject())
	html, text := rd.Values(render.Recipient{Name: rc.name, Email: rc.email, UnsubscribeURL: unsub, PreferencesURL: prefs})
	m := &mailer.Copy{
		Layout:         layout,
		To:             (&mail.Address{Name: rc.name, Address: rc.email}).String(),
		MessageID:      messageID(issue.ID, rc.subscriberID, s.fromDomain),
		UnsubscribeURL: unsub,
		HTML:           html,
		Text:           text,
	}
	if s.o.UnsubscribeMailto != nil {
		m.UnsubscribeMailto = s.o.UnsubscribeMailto(rc.subject())
	}
	if s.o.BounceAddress != nil {
		m.EnvelopeFrom = s.o.BounceAddress(rc.subject(), issue.ID)
	}
	return m, nil
}

// layout lays out one rendering of the issue: what all its recipients'
// messages share, encoded once.
func (s *Sender) layout(issue store.Issue, rd *render.Rendered) (*mailer.Layout, error) {
	nl := s.o.Newsletter
	html, text := rd.Parts()
	l, err := mailer.NewLayout(mailer.Template{
		From:    nl.From,
		ReplyTo: nl.ReplyTo,
		Subject: rd.Subject,
		Date:    issue.Created,
		ListID:  nl.ListID,
		Headers: withListArchive(s.o.Archive, s.o.Links, map[string]string{"X-Digest-Issue": fmt.Sprint(issue.ID)}),
		HTML:    segments(html),
		Text:    segments(text),
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return l, nil
}

func segments(in []render.Segment) []mailer.Segment {
	out := make([]mailer.Segment, len(in))
	for i, s := range in {
		out[i] = mailer.Segment(s)
	}
	return out
}

// links are the unsubscribe and preferences URLs of one subscriber. Tokens
// are issued at the issue's creation time, so a resumed send builds the
// very same message and the links live as long as the issue is young.
func (s *Sender) links(issue store.Issue, who links.Subject) (unsub, prefs string) {
	issued := issue.Created
	if issued.IsZero() {
		issued = s.o.Now()
	}
	return s.o.Links.UnsubscribeURL(who, issued), s.o.Links.PreferencesURL(who, issued)
}

// MessageID is deterministic per issue and subscriber, so a message sent
// twice (after a crash, or an unknown outcome) carries the same ID and
// clients can fold the copies.
func MessageID(issueID, subscriberID int64, from string) string {
	return messageID(issueID, subscriberID, fromDomain(from))
}

// messageID is MessageID with the From domain parsed once per Sender.
func messageID(issueID, subscriberID int64, domain string) string {
	b := make([]byte, 0, len("issue-.sub-@")+40+len(domain))
	b = append(b, "issue-"...)
	b = strconv.AppendInt(b, issueID, 10)
	b = append(b, ".sub-"...)
	b = strconv.AppendInt(b, subscriberID, 10)
	b = append(b, '@')
	b = append(b, domain...)
	return string(b)
}

// ListID is the RFC 2919 List-Id: "Title <list-id>", where list-id is id,
// or "<title-slug>.<from domain>" when id is empty.
func ListID(title, from, id string) string {
	if id == "" {
		id = slug(title) + "." + fromDomain(from)
	}
	return fmt.Sprintf("%s <%s>", strings.ReplaceAll(title, "\"", ""), id)
}

// fromAddress is the bare address of a From header value.
func fromAddress(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}

func fromDomain(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			return strings.ToLower(a.Address[at+1:])
		}
	}
	return "digest.invalid"
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "digest"
	}
	return out
}

package delivery

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/subscribers"
)

// recipient is one message to build.
type recipient struct {
	deliveryID   int64
	subscriberID int64
	email, name  string
	topics       []string
	attempts     int    // SMTP attempts recorded before this send
	seq          uint64 // hand-out order in this pass (the breaker's clock)
}

// message builds one recipient's email.
func (s *Sender) message(issue store.Issue, v *variants, rc recipient) (*mailer.Message, error) {
	nl := s.o.Newsletter
	rd, err := v.get(rc.topics)
	if err != nil {
		return nil, err
	}
	unsub, prefs := s.links(issue, rc.subscriberID)
	html, text := rd.Personalize(render.Recipient{Name: rc.name, Email: rc.email, UnsubscribeURL: unsub, PreferencesURL: prefs})
	to := (&mail.Address{Name: rc.name, Address: rc.email}).String()
	m := &mailer.Message{
		From:           nl.From,
		To:             to,
		ReplyTo:        nl.ReplyTo,
		Subject:        rd.Subject,
		Date:           issue.Created,
		MessageID:      MessageID(issue.ID, rc.subscriberID, nl.From),
		HTML:           html,
		Text:           text,
		ListID:         nl.ListID,
		UnsubscribeURL: unsub,
		Headers:        map[string]string{"X-Digest-Issue": fmt.Sprint(issue.ID)},
	}
	if s.o.UnsubscribeMailto != nil {
		m.UnsubscribeMailto = s.o.UnsubscribeMailto(rc.subscriberID)
	}
	if s.o.BounceAddress != nil {
		m.EnvelopeFrom = s.o.BounceAddress(rc.subscriberID, issue.ID)
	}
	return m, nil
}

// links are the unsubscribe and preferences URLs of one subscriber. Tokens
// are issued at the issue's creation time, so a resumed send builds the
// very same message and the links live as long as the issue is young.
func (s *Sender) links(issue store.Issue, subscriberID int64) (unsub, prefs string) {
	base := strings.TrimRight(s.o.Newsletter.BaseURL, "/")
	if s.o.Tokens == nil {
		return base + "/unsubscribe?token=DRY-RUN", base + "/preferences?token=DRY-RUN"
	}
	issued := issue.Created
	if issued.IsZero() {
		issued = s.o.Now()
	}
	ut := s.o.Tokens.SignClaims(subscribers.Claims{Purpose: subscribers.PurposeUnsubscribe, Subscriber: subscriberID, Issued: issued})
	pt := s.o.Tokens.SignClaims(subscribers.Claims{Purpose: subscribers.PurposePreferences, Subscriber: subscriberID, Issued: issued})
	return base + "/unsubscribe?token=" + url.QueryEscape(ut), base + "/preferences?token=" + url.QueryEscape(pt)
}

// MessageID is deterministic per issue and subscriber, so a message sent
// twice (after a crash, or an unknown outcome) carries the same ID and
// clients can fold the copies.
func MessageID(issueID, subscriberID int64, from string) string {
	return fmt.Sprintf("issue-%d.sub-%d@%s", issueID, subscriberID, fromDomain(from))
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

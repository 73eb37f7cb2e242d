package inbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/digest-newsletter/digest/inbound/bounce"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/outbox"
	"github.com/digest-newsletter/digest/subscribers"
)

// recipientHeaders are where the address a message was delivered to shows:
// To/Cc as written, the rest as added by the receiving servers.
var recipientHeaders = []string{"To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "X-Delivered-To", "X-Rcpt-To"}

// handle acts on one message and returns what it did. An error means a
// temporary failure (store or mail server): the message is left for the
// next pass. Everything permanent (unreadable, unknown address, throttled)
// is a handled message that counts as Ignored.
func (p *Poller) handle(ctx context.Context, raw []byte, key string) (Stats, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		p.log.WarnContext(ctx, "inbound: unreadable message, ignored", "key", key, "err", err)
		return Stats{Ignored: 1}, nil
	}
	h := msg.Header
	rep, err := bounce.Parse(raw)
	if err != nil {
		return Stats{Ignored: 1}, nil
	}
	if rep.IsBounce {
		return p.handleBounce(ctx, h, rep, raw, key)
	}

	// A message to the List-Unsubscribe mailto: the token is the authority,
	// whoever sent it (a mail client may send it from another identity, or
	// mark it auto-submitted). Nothing is sent back.
	var rcpts []string
	for _, k := range recipientHeaders {
		rcpts = append(rcpts, h[k]...)
	}
	c, ok, err := findToken(ctx, p.o.Signer, p.o.Store.SubscriberStamp, reUnsubTag, links.PurposeUnsubscribe, rcpts...)
	if err != nil {
		return Stats{}, fmt.Errorf("inbound: unsubscribe token: %w", err)
	}
	if ok {
		if err := p.o.Service.Unsubscribe(ctx, c.Subscriber, "", "", subscribers.FormEmail); err != nil {
			return Stats{}, fmt.Errorf("inbound: unsubscribe %d: %w", c.Subscriber, err)
		}
		p.log.InfoContext(ctx, "inbound: unsubscribed by mailto", "subscriber", c.Subscriber, "key", key)
		return Stats{Unsubscribed: 1}, nil
	}

	if why := automatic(h); why != "" {
		p.log.InfoContext(ctx, "inbound: automatic message ignored", "key", key, "why", why)
		return Stats{Ignored: 1}, nil
	}
	from, err := mail.ParseAddress(decodeHeader(h.Get("From")))
	if err != nil {
		p.log.InfoContext(ctx, "inbound: no usable From, ignored", "key", key)
		return Stats{Ignored: 1}, nil
	}
	if machineSender(from.Address) || p.isSelf(from.Address) || p.looped(h) {
		p.log.InfoContext(ctx, "inbound: message from a mail system or from us, ignored", "key", key, "from", from.Address)
		return Stats{Ignored: 1}, nil
	}
	return p.command(ctx, h, rep, from, key)
}

// command carries out what a person's message asks (subscribe,
// unsubscribe, help), found in its subject or first lines.
func (p *Poller) command(ctx context.Context, h mail.Header, rep *bounce.Report, from *mail.Address, key string) (Stats, error) {
	addr, err := subscribers.NormalizeAddress(from.Address)
	if err != nil {
		p.log.InfoContext(ctx, "inbound: From is not a valid address, ignored", "key", key)
		return Stats{Ignored: 1}, nil
	}

	cmd, where := parseCommand(decodeHeader(h.Get("Subject")), rep.Text)
	switch cmd {
	case cmdSubscribe:
		err := p.o.Service.Subscribe(ctx, subscribers.SubscribeRequest{Email: addr, Name: from.Name, Form: subscribers.FormEmail})
		var ae *subscribers.AddressError
		switch {
		case errors.As(err, &ae):
			p.log.InfoContext(ctx, "inbound: subscribe refused", "key", key, "reason", ae.Reason)
			return Stats{Ignored: 1}, nil
		case err != nil:
			return Stats{}, fmt.Errorf("inbound: subscribe: %w", err)
		}
		// A repeat within server.confirm_every gets no second mail (the
		// service holds it back silently), so a forged From cannot flood
		// anyone.
		p.log.InfoContext(ctx, "inbound: subscribe by email", "key", key)
		return Stats{Subscribed: 1}, nil
	case cmdUnsubscribe:
		sub, err := p.o.Store.SubscriberByEmail(ctx, addr)
		if errors.Is(err, store.ErrNotFound) {
			// Silence: an answer would tell anyone whether an address is on
			// the list.
			p.log.InfoContext(ctx, "inbound: unsubscribe from an unknown address", "key", key)
			return Stats{Ignored: 1}, nil
		}
		if err != nil {
			return Stats{}, fmt.Errorf("inbound: unsubscribe: %w", err)
		}
		if err := p.o.Service.Unsubscribe(ctx, sub.ID, "", "", subscribers.FormEmail); err != nil {
			return Stats{}, fmt.Errorf("inbound: unsubscribe %d: %w", sub.ID, err)
		}
		p.log.InfoContext(ctx, "inbound: unsubscribed by email", "subscriber", sub.ID, "key", key)
		return Stats{Unsubscribed: 1}, nil
	case cmdHelp:
		if err := p.reply(ctx, h, addr, where, key); err != nil {
			return Stats{}, fmt.Errorf("inbound: help reply: %w", err)
		}
		return Stats{Replied: 1}, nil
	}
	p.log.InfoContext(ctx, "inbound: no command found, ignored", "key", key)
	return Stats{Ignored: 1}, nil
}

// looped reports whether the message already passed through us.
func (p *Poller) looped(h mail.Header) bool {
	for _, v := range h["X-Loop"] {
		if a, err := mail.ParseAddress(v); err == nil && p.isSelf(a.Address) {
			return true
		}
		if p.isSelf(strings.TrimSpace(v)) {
			return true
		}
	}
	return false
}

var reLeadMessageID = regexp.MustCompile(`^issue-(\d+)\.sub-(\d+)@`)

// bounceHit is one subscriber a bounce report is about.
type bounceHit struct {
	sub   store.Subscriber
	rc    bounce.Recipient
	issue int64
}

// handleBounce records a bounce for the subscriber the report is about,
// found by the VERP token, else the original Message-ID, else the failed
// recipient addresses.
func (p *Poller) handleBounce(ctx context.Context, h mail.Header, rep *bounce.Report, raw []byte, key string) (Stats, error) {
	failed := rep.Failed()
	if len(failed) == 0 {
		p.log.InfoContext(ctx, "inbound: delivery report without a failure (delay warning), ignored", "key", key, "format", rep.Format)
		return Stats{Ignored: 1}, nil
	}
	hits, err := p.byBounceToken(ctx, h, rep, raw, failed, key)
	if err == nil && len(hits) == 0 {
		hits, err = p.byMessageID(ctx, rep, failed)
	}
	if err == nil && len(hits) == 0 {
		hits, err = p.byFailedAddress(ctx, failed)
	}
	if errors.Is(err, errSubscriberGone) {
		return Stats{Ignored: 1}, nil
	}
	if err != nil {
		return Stats{}, fmt.Errorf("inbound: bounce: %w", err)
	}
	if len(hits) == 0 {
		p.log.InfoContext(ctx, "inbound: bounce for no known subscriber, ignored", "key", key, "format", rep.Format)
		return Stats{Ignored: 1}, nil
	}
	var st Stats
	for _, hi := range hits {
		reason := strings.TrimSpace(hi.rc.Status + " " + hi.rc.Diagnostic)
		if hi.issue > 0 {
			reason += fmt.Sprintf(" (issue %d)", hi.issue)
		}
		if len(reason) > 500 {
			reason = reason[:500]
		}
		suppressed, err := p.o.Store.RecordBounce(ctx, hi.sub.ID, hi.rc.Hard, reason, p.o.Delivery.BounceAfter, p.o.Delivery.SoftBounceAfter, p.now())
		if err != nil {
			return st, fmt.Errorf("inbound: record bounce for %d: %w", hi.sub.ID, err)
		}
		if hi.rc.Hard {
			st.HardBounces++
		} else {
			st.SoftBounces++
		}
		p.log.InfoContext(ctx, "inbound: bounce recorded", "subscriber", hi.sub.ID, "hard", hi.rc.Hard,
			"status", hi.rc.Status, "suppressed", suppressed, "format", rep.Format, "key", key)
	}
	return st, nil
}

// errSubscriberGone: the bounce's signed token names a subscriber who has
// been removed since; there is nobody to record it for.
var errSubscriberGone = errors.New("the subscriber is gone")

// byBounceToken finds the subscriber by the VERP token: it is signed, so
// it is trusted over everything else.
func (p *Poller) byBounceToken(ctx context.Context, h mail.Header, rep *bounce.Report, raw []byte, failed []bounce.Recipient, key string) ([]bounceHit, error) {
	var texts []string
	for _, k := range recipientHeaders {
		texts = append(texts, h[k]...)
	}
	for _, vs := range rep.ReturnedHeader {
		texts = append(texts, vs...)
	}
	texts = append(texts, rep.Text, string(raw))
	c, ok, err := findToken(ctx, p.o.Signer, p.o.Store.SubscriberStamp, reBounceTag, links.PurposeBounce, texts...)
	if err != nil || !ok {
		return nil, err
	}
	sub, err := p.o.Store.SubscriberByID(ctx, c.Subscriber)
	if errors.Is(err, store.ErrNotFound) {
		p.log.InfoContext(ctx, "inbound: bounce for a subscriber who is gone", "subscriber", c.Subscriber, "key", key)
		return nil, errSubscriberGone
	}
	if err != nil {
		return nil, err
	}
	return []bounceHit{{sub, pick(failed, sub.Email), c.Ref}}, nil
}

// byMessageID reads subscriber and issue from our Message-ID. Anyone can
// write one: it is believed only when the report's recipient agrees.
func (p *Poller) byMessageID(ctx context.Context, rep *bounce.Report, failed []bounce.Recipient) ([]bounceHit, error) {
	m := reLeadMessageID.FindStringSubmatch(rep.OriginalMessageID)
	if m == nil {
		return nil, nil
	}
	issue, _ := strconv.ParseInt(m[1], 10, 64)
	id, _ := strconv.ParseInt(m[2], 10, 64)
	sub, err := p.o.Store.SubscriberByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case agrees(failed, rep.OriginalTo, sub.Email):
		return []bounceHit{{sub, pick(failed, sub.Email), issue}}, nil
	}
	return nil, nil
}

// byFailedAddress finds subscribers by the failed addresses themselves.
func (p *Poller) byFailedAddress(ctx context.Context, failed []bounce.Recipient) ([]bounceHit, error) {
	var hits []bounceHit
	seen := map[int64]bool{}
	for _, rc := range failed {
		if rc.Address == "" {
			continue
		}
		sub, err := p.o.Store.SubscriberByEmail(ctx, rc.Address)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		if !seen[sub.ID] {
			seen[sub.ID] = true
			hits = append(hits, bounceHit{sub, rc, 0})
		}
	}
	return hits, nil
}

// pick returns the failed recipient that is email, else the first one.
func pick(failed []bounce.Recipient, email string) bounce.Recipient {
	for _, rc := range failed {
		if strings.EqualFold(rc.Address, email) {
			return rc
		}
	}
	return failed[0]
}

// agrees reports whether a report naming email by Message-ID is consistent
// with the addresses it lists (or lists none).
func agrees(failed []bounce.Recipient, originalTo, email string) bool {
	listed := false
	for _, rc := range failed {
		if rc.Address == "" {
			continue
		}
		listed = true
		if strings.EqualFold(rc.Address, email) {
			return true
		}
	}
	if strings.EqualFold(originalTo, email) {
		return true
	}
	return !listed && originalTo == ""
}

// reply puts the help text in the outbox. It is the only message ever sent to an
// address we did not confirm, so it says nothing about the list's members.
func (p *Poller) reply(ctx context.Context, h mail.Header, to, where, key string) error {
	self := bareAddr(p.o.Config.Address)
	_, domain, _ := strings.Cut(self, "@")
	title := p.o.Newsletter.Title
	if title == "" {
		title = "the newsletter"
	}
	sum := sha256.Sum256([]byte(key))
	subject := strings.Join(strings.Fields(decodeHeader(h.Get("Subject"))), " ")
	if subject == "" {
		subject = "How to use " + title
	} else if !reReplyPrefix.MatchString(subject) {
		subject = "Re: " + subject
	}
	if len(subject) > 200 {
		subject = subject[:200]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Hello,\n\nThis is the automatic address of %s. We read your message as: help (found in the %s).\n\n", title, where)
	fmt.Fprintf(&b, "Send one of these words in the subject or on the first line of a message to %s:\n\n", self)
	b.WriteString("  subscribe     get an email with a link to confirm your subscription\n")
	b.WriteString("  unsubscribe   stop receiving it (from the address that receives it)\n")
	b.WriteString("  help          this message\n\n")
	b.WriteString("Every issue also has a one-click unsubscribe link at the bottom.\n")
	if p.o.Newsletter.BaseURL != "" {
		fmt.Fprintf(&b, "\nSubscribe on the web: %s\n", p.o.Newsletter.BaseURL)
	}
	msg := &mailer.Message{
		From:      (&mail.Address{Name: title, Address: self}).String(),
		To:        to,
		Subject:   subject,
		Date:      p.now(),
		MessageID: "reply-" + hex.EncodeToString(sum[:12]) + "@" + domain,
		Text:      []byte(b.String()),
		Headers: map[string]string{
			// RFC 3834: marks this as an automatic answer so that other
			// robots do not answer it in turn.
			"Auto-Submitted":           "auto-replied",
			"X-Auto-Response-Suppress": "All",
			"X-Loop":                   self,
		},
	}
	if id := strings.TrimSpace(h.Get("Message-Id")); reMsgIDHeader.MatchString(id) {
		msg.Headers["In-Reply-To"] = id
		msg.Headers["References"] = id
	}
	return p.o.Outbox.Enqueue(ctx, outbox.KindReply, 0, msg)
}

var reMsgIDHeader = regexp.MustCompile(`^<[^<>\s]+@[^<>\s]+>$`)

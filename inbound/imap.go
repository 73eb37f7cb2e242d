package inbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const (
	// maxMessageBytes: a bigger message is read by its header alone. A
	// command or a bounce fits in far less; attachments do not matter here.
	maxMessageBytes = 4 << 20
	// maxPerPass bounds one pass; the rest waits for the next.
	maxPerPass = 500
	// flagDone marks a handled message that could not be moved.
	flagDone    imap.Flag = "$DigestProcessed"
	dialTimeout           = 30 * time.Second
)

// session is one connection's state during a pass.
type session struct {
	c           *imapclient.Client
	uidValidity uint32
	caps        imap.CapSet
	doneChecked bool
	doneOK      bool
}

// PollOnce connects, handles every unseen message in the mailbox (up to
// maxPerPass), moves each handled one to done_mailbox, and disconnects. A
// message whose handling failed for a temporary reason stays unseen for the
// next pass and counts as Failed; the error is for the pass as a whole
// (connection, login, mailbox).
func (p *Poller) PollOnce(ctx context.Context) (Stats, error) {
	var st Stats
	c, err := p.dial(ctx)
	if err != nil {
		return st, err
	}
	defer c.Close()
	// The client has no context: closing the connection is how a
	// cancelled ctx interrupts a command in flight.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	if err := c.Login(p.o.Config.Username, p.o.Password).Wait(); err != nil {
		return st, p.ctxErr(ctx, fmt.Errorf("inbound: login as %q: %w", p.o.Config.Username, err))
	}
	sel, err := c.Select(p.o.Config.Mailbox, nil).Wait()
	if err != nil {
		return st, p.ctxErr(ctx, fmt.Errorf("inbound: select %q: %w", p.o.Config.Mailbox, err))
	}
	s := &session{c: c, uidValidity: sel.UIDValidity, caps: c.Caps()}
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		return st, p.ctxErr(ctx, fmt.Errorf("inbound: search unseen: %w", err))
	}
	uids := found.AllUIDs()
	if len(uids) > maxPerPass {
		uids = uids[:maxPerPass]
	}
	for _, uid := range uids {
		one, err := p.processOne(ctx, s, uid)
		st.add(one)
		if err != nil {
			return st, p.ctxErr(ctx, err)
		}
	}
	// A failed LOGOUT changes nothing that was done.
	_ = c.Logout().Wait()
	return st, nil
}

func (p *Poller) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("inbound: %w", ctx.Err())
	}
	return err
}

func (p *Poller) dial(ctx context.Context) (*imapclient.Client, error) {
	cfg := p.o.Config
	port := cfg.Port
	if port == 0 {
		port = 993
		if cfg.TLS == "none" || cfg.TLS == "starttls" {
			port = 143
		}
	}
	addr := net.JoinHostPort(cfg.IMAPHost, strconv.Itoa(port))
	d := &net.Dialer{Timeout: dialTimeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	opts := &imapclient.Options{
		Dialer:    d,
		TLSConfig: &tls.Config{ServerName: cfg.IMAPHost, MinVersion: tls.VersionTLS12},
	}
	if p.tlsConfig != nil {
		opts.TLSConfig = p.tlsConfig.Clone()
	}
	var (
		c   *imapclient.Client
		err error
	)
	switch cfg.TLS {
	case "none":
		c, err = imapclient.DialInsecure(addr, opts)
	case "starttls":
		c, err = imapclient.DialStartTLS(addr, opts)
	default:
		c, err = imapclient.DialTLS(addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("inbound: connect to %s: %w", addr, err)
	}
	return c, nil
}

// processOne fetches, checks, acts, marks and moves one message. Only a
// connection-level failure (or a test hook) is returned as an error; a
// failure to act counts as Failed and leaves the message for later.
func (p *Poller) processOne(ctx context.Context, s *session, uid imap.UID) (Stats, error) {
	raw, err := p.fetch(s, uid)
	if err != nil {
		return Stats{}, err
	}
	if raw == nil {
		return Stats{}, nil // expunged meanwhile by someone else
	}
	st := Stats{Seen: 1}
	keys := p.keys(s, uid, raw)
	done := false
	for _, k := range keys {
		ok, err := p.o.Store.InboundProcessed(ctx, k)
		if err != nil {
			st.Failed = 1
			p.log.ErrorContext(ctx, "inbound: check processed", "key", k, "err", err)
			return st, nil
		}
		done = done || ok
	}
	if done {
		// Handled before a crash kept it from being moved: move it now.
		st.Skipped = 1
		p.log.InfoContext(ctx, "inbound: already handled, moving", "key", keys[0])
		return st, p.finish(ctx, s, uid)
	}
	if p.hookBeforeAct != nil {
		if err := p.hookBeforeAct(keys[0]); err != nil {
			return st, err
		}
	}
	got, err := p.handle(ctx, raw, keys[0])
	if err != nil {
		if ctx.Err() != nil {
			return st, err
		}
		st.Failed = 1
		p.log.WarnContext(ctx, "inbound: will retry next pass", "key", keys[0], "err", err)
		return st, nil
	}
	got.Seen = 1
	now := p.now()
	for _, k := range keys {
		if err := p.o.Store.MarkInboundProcessed(ctx, k, now); err != nil {
			// Acted but not recorded: the one window where a message can be
			// acted on twice. Leave it in place; say so loudly.
			p.log.ErrorContext(ctx, "inbound: acted on a message but could not record it", "key", k, "err", err)
			got.Failed++
			return got, nil
		}
	}
	if p.hookAfterMark != nil {
		if err := p.hookAfterMark(keys[0]); err != nil {
			return got, err
		}
	}
	return got, p.finish(ctx, s, uid)
}

// keys names a message for the exactly-once record: by its place in the
// mailbox (mailbox, UIDVALIDITY, UID), and by its Message-ID when it has
// one, so a copy moved back or delivered twice is still recognised.
func (p *Poller) keys(s *session, uid imap.UID, raw []byte) []string {
	keys := []string{fmt.Sprintf("imap:%s/%d/%d", p.o.Config.Mailbox, s.uidValidity, uid)}
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if id := strings.ToLower(strings.TrimSpace(m.Header.Get("Message-Id"))); id != "" {
			sum := sha256.Sum256([]byte(id))
			keys = append(keys, "msgid:"+hex.EncodeToString(sum[:16]))
		}
	}
	return keys
}

// fetch reads the message without setting \Seen (BODY.PEEK), so one that
// fails to be handled stays unseen for the next pass. It returns nil, nil
// for a message that is gone.
func (p *Poller) fetch(s *session, uid imap.UID) ([]byte, error) {
	set := imap.UIDSetNum(uid)
	msgs, err := s.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("inbound: fetch %d: %w", uid, err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	if msgs[0].RFC822Size > maxMessageBytes {
		section.Specifier = imap.PartSpecifierHeader
	}
	msgs, err = s.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("inbound: fetch %d: %w", uid, err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	raw := msgs[0].FindBodySection(section)
	if raw == nil {
		return nil, fmt.Errorf("inbound: fetch %d: the server sent no body", uid)
	}
	return raw, nil
}

// finish takes a handled message out of the unseen set for good: MOVE to
// done_mailbox; else COPY + \Deleted + UID EXPUNGE (UIDPLUS); else, or when
// the done mailbox cannot be had, \Seen plus a keyword, left in place. A
// plain EXPUNGE is never used: it would also remove messages someone else
// marked \Deleted.
func (p *Poller) finish(ctx context.Context, s *session, uid imap.UID) error {
	set := imap.UIDSetNum(uid)
	done := p.o.Config.DoneMailbox
	if done != "" && done != p.o.Config.Mailbox && p.ensureDone(ctx, s) {
		switch {
		case s.caps.Has(imap.CapMove):
			_, err := s.c.Move(set, done).Wait()
			if err == nil {
				return nil
			}
			p.log.WarnContext(ctx, "inbound: move failed, flagging instead", "mailbox", done, "err", err)
		case s.caps.Has(imap.CapUIDPlus):
			_, err := s.c.Copy(set, done).Wait()
			if err == nil {
				err = s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, imap.FlagDeleted}}, nil).Close()
			}
			if err == nil {
				err = s.c.UIDExpunge(set).Close()
			}
			if err == nil {
				return nil
			}
			p.log.WarnContext(ctx, "inbound: copy+expunge failed, flagging instead", "mailbox", done, "err", err)
		}
	}
	if err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, flagDone}}, nil).Close(); err != nil {
		return fmt.Errorf("inbound: flag %d as handled: %w", uid, err)
	}
	return nil
}

// ensureDone creates done_mailbox if it is missing, once per pass.
func (p *Poller) ensureDone(ctx context.Context, s *session) bool {
	if s.doneChecked {
		return s.doneOK
	}
	s.doneChecked = true
	done := p.o.Config.DoneMailbox
	list, err := s.c.List("", done, nil).Collect()
	if err == nil && len(list) > 0 {
		s.doneOK = true
		return true
	}
	if err := s.c.Create(done, nil).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
			s.doneOK = true
			return true
		}
		p.log.WarnContext(ctx, "inbound: cannot create the done mailbox; handled messages will be flagged in place", "mailbox", done, "err", err)
		return false
	}
	p.log.InfoContext(ctx, "inbound: created the done mailbox", "mailbox", done)
	s.doneOK = true
	return true
}

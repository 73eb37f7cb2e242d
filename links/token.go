package links

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// Purpose binds a token to one use: a confirm token cannot unsubscribe.
type Purpose byte

// Token purposes. Values are part of the signed payload: never renumber.
const (
	PurposeConfirm     Purpose = 1
	PurposeUnsubscribe Purpose = 2
	PurposePreferences Purpose = 3
	PurposeBounce      Purpose = 4 // VERP return path: subscriber and issue
)

func (p Purpose) String() string {
	switch p {
	case PurposeConfirm:
		return "confirm"
	case PurposeUnsubscribe:
		return "unsubscribe"
	case PurposePreferences:
		return "preferences"
	case PurposeBounce:
		return "bounce"
	}
	return fmt.Sprintf("purpose(%d)", byte(p))
}

// Token errors. Both are the reader's problem, never the server's: answer 4xx.
var (
	ErrTokenInvalid = errors.New("links: token is invalid")
	ErrTokenExpired = errors.New("links: token has expired")
)

// Subject is the subscriber a token is made for: the row's id and its
// stamp (see the package doc).
type Subject struct {
	ID    int64
	Stamp int64
}

// Claims is what a valid token vouches for.
type Claims struct {
	Purpose    Purpose
	Subscriber int64
	Issued     time.Time
	// Ref is an optional reference, the issue ID for bounce tokens.
	Ref int64
}

// StampFunc returns the current stamp of a subscriber, found=false when
// there is no such subscriber (any more). *store.DB's SubscriberStamp
// satisfies it.
type StampFunc func(ctx context.Context, subscriberID int64) (stamp int64, found bool, err error)

// MinKeyLen is the shortest HMAC key accepted: a short secret can be guessed
// offline from a single token.
const MinKeyLen = 16

// macLen truncates HMAC-SHA256 to 128 bits: ample against forgery, and it
// keeps tokens short enough for a mailto local part (64 characters).
const macLen = 16

// Lowercase base32 without padding: safe in URLs and in email local parts,
// which some servers lowercase.
var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Signer signs and verifies tokens with an HMAC-SHA256 key.
type Signer struct {
	key []byte
	now func() time.Time
	// macs holds keyed HMACs for reuse: hmac.New hashes the key into two
	// fresh states each time, which showed in a send's profile (two tokens
	// per message). Reset returns an HMAC to its keyed state.
	macs sync.Pool
}

// NewSigner returns a signer for key (from the environment, never the
// config file). now may be nil for time.Now.
func NewSigner(key []byte, now func() time.Time) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("links: token key must be at least %d bytes, got %d (set the secret environment variable)", MinKeyLen, len(key))
	}
	if now == nil {
		now = time.Now
	}
	s := &Signer{key: append([]byte(nil), key...), now: now}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s, nil
}

// Sign returns a token for c, made for who (c.Subscriber is taken from
// who.ID). A zero c.Issued means now.
func (s *Signer) Sign(c Claims, who Subject) string {
	if c.Issued.IsZero() {
		c.Issued = s.now()
	}
	buf := make([]byte, 0, 1+3*binary.MaxVarintLen64+macLen)
	buf = append(buf, byte(c.Purpose))
	buf = binary.AppendUvarint(buf, uint64(who.ID))
	buf = binary.AppendUvarint(buf, uint64(c.Issued.Unix()))
	buf = binary.AppendUvarint(buf, uint64(c.Ref))
	buf = append(buf, s.mac(buf, who.Stamp)...)
	return enc.EncodeToString(buf)
}

// mac signs the payload and the stamp. Stamp 0 (subscribers stored before
// stamps existed) adds nothing, which is how tokens were signed then.
func (s *Signer) mac(payload []byte, stamp int64) []byte {
	m := s.macs.Get().(hash.Hash)
	defer s.macs.Put(m)
	m.Reset()
	m.Write(payload)
	if stamp != 0 {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(stamp))
		m.Write(b[:])
	}
	var sum [sha256.Size]byte
	return m.Sum(sum[:0])[:macLen]
}

// Verify checks tok for purpose p and an age of at most maxAge (0: no
// limit), against the current stamp of the subscriber it names. A token
// whose subscriber is gone is ErrTokenInvalid; an error from stamps is
// returned wrapped (the store did not answer: a 5xx, not the reader's
// fault). The MAC is compared in constant time.
func (s *Signer) Verify(ctx context.Context, tok string, p Purpose, maxAge time.Duration, stamps StampFunc) (Claims, error) {
	raw, err := enc.DecodeString(strings.ToLower(strings.TrimSpace(tok)))
	if err != nil || len(raw) < 1+3+macLen {
		return Claims{}, ErrTokenInvalid
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	c := Claims{Purpose: Purpose(payload[0])}
	rest := payload[1:]
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return Claims{}, ErrTokenInvalid
		}
		vals[i], rest = v, rest[n:]
	}
	if len(rest) != 0 || c.Purpose != p || vals[0] > 1<<62 {
		return Claims{}, ErrTokenInvalid
	}
	c.Subscriber, c.Issued, c.Ref = int64(vals[0]), time.Unix(int64(vals[1]), 0).UTC(), int64(vals[2])
	// The stamp is looked up before the MAC can be checked: the id is
	// untrusted until then, and an unknown one answers like a bad MAC.
	stamp, found, err := stamps(ctx, c.Subscriber)
	if err != nil {
		return Claims{}, fmt.Errorf("links: verify token: %w", err)
	}
	if !found {
		stamp = -1 // no row: still compute a MAC, so the answer takes as long
	}
	if !hmac.Equal(sum, s.mac(payload, stamp)) || !found {
		return Claims{}, ErrTokenInvalid
	}
	now := s.now()
	if c.Issued.After(now.Add(5 * time.Minute)) {
		return Claims{}, ErrTokenInvalid
	}
	if maxAge > 0 && now.Sub(c.Issued) > maxAge {
		return c, ErrTokenExpired
	}
	return c, nil
}

package subscribers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
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
	ErrTokenInvalid = errors.New("subscribers: token is invalid")
	ErrTokenExpired = errors.New("subscribers: token has expired")
)

// Claims is what a valid token vouches for.
type Claims struct {
	Purpose    Purpose
	Subscriber int64
	Issued     time.Time
	// Ref is an optional reference, the issue ID for bounce tokens.
	Ref int64
}

// MinKeyLen is the shortest HMAC key accepted: a short secret can be guessed
// offline from a single token.
const MinKeyLen = 16

// macLen truncates HMAC-SHA256 to 128 bits: ample against forgery, and it
// keeps tokens short enough for a mailto local part (64 characters).
const macLen = 16

// Lowercase base32 without padding: safe in URLs and in email local parts,
// which some servers lowercase.
var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Tokens signs and verifies tokens with an HMAC-SHA256 key.
type Tokens struct {
	key []byte
	now func() time.Time
}

// NewTokens returns a signer for key (from the environment, never the
// config file). now may be nil for time.Now.
func NewTokens(key []byte, now func() time.Time) (*Tokens, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("subscribers: token key must be at least %d bytes, got %d (set the secret environment variable)", MinKeyLen, len(key))
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{key: append([]byte(nil), key...), now: now}, nil
}

// Sign returns a token for purpose p and subscriber id, issued now.
func (t *Tokens) Sign(p Purpose, subscriber int64) string {
	return t.SignClaims(Claims{Purpose: p, Subscriber: subscriber, Issued: t.now()})
}

// SignClaims returns a token for c.
func (t *Tokens) SignClaims(c Claims) string {
	buf := make([]byte, 0, 1+3*binary.MaxVarintLen64+macLen)
	buf = append(buf, byte(c.Purpose))
	buf = binary.AppendUvarint(buf, uint64(c.Subscriber))
	buf = binary.AppendUvarint(buf, uint64(c.Issued.Unix()))
	buf = binary.AppendUvarint(buf, uint64(c.Ref))
	buf = append(buf, t.mac(buf)...)
	return enc.EncodeToString(buf)
}

func (t *Tokens) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}

// Verify checks tok for purpose p and an age of at most maxAge (0: no
// limit). The MAC is compared in constant time.
func (t *Tokens) Verify(tok string, p Purpose, maxAge time.Duration) (Claims, error) {
	raw, err := enc.DecodeString(strings.ToLower(strings.TrimSpace(tok)))
	if err != nil || len(raw) < 1+3+macLen {
		return Claims{}, ErrTokenInvalid
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, t.mac(payload)) {
		return Claims{}, ErrTokenInvalid
	}
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
	if len(rest) != 0 || c.Purpose != p {
		return Claims{}, ErrTokenInvalid
	}
	c.Subscriber, c.Issued, c.Ref = int64(vals[0]), time.Unix(int64(vals[1]), 0).UTC(), int64(vals[2])
	now := t.now()
	if c.Issued.After(now.Add(5 * time.Minute)) {
		return Claims{}, ErrTokenInvalid
	}
	if maxAge > 0 && now.Sub(c.Issued) > maxAge {
		return c, ErrTokenExpired
	}
	return c, nil
}

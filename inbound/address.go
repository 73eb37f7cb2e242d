package inbound

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/subscribers"
)

// Sub-address tags. The token after them is lowercase base32, which
// survives servers that lowercase local parts.
const (
	tagUnsubscribe = "+unsubscribe-"
	tagBounces     = "+bounces-"
)

// tokenEpoch is the Issued time written into address tokens. A fixed time
// keeps them short (a local part holds 64 characters) and the same for
// every issue, so a resumed send builds identical messages. Neither kind
// needs an age: unsubscribing is always safe, and a bounce names the issue.
var tokenEpoch = time.Unix(1, 0).UTC()

// UnsubscribeMailto returns the mailto: URI for List-Unsubscribe: a
// message to <local>+unsubscribe-TOKEN@domain (built from address, the
// [inbound] address) unsubscribes who, whoever sends it. It returns
// "" when address is not a usable address.
func UnsubscribeMailto(address string, signer *links.Signer, who links.Subject) string {
	tok := signer.Sign(links.Claims{Purpose: links.PurposeUnsubscribe, Issued: tokenEpoch}, who)
	a := tagged(address, tagUnsubscribe+tok)
	if a == "" {
		return ""
	}
	// The address is ASCII letters, digits and "+-.@": nothing to escape.
	return "mailto:" + a + "?subject=" + url.QueryEscape("unsubscribe")
}

// BounceAddress returns the VERP return path for one message of issueID to
// who: <local>+bounces-TOKEN@domain, built from address (the
// [inbound] bounce_address, else address). The sender uses it as MAIL FROM
// so a bounce names its subscriber and issue even when it quotes nothing
// of the original. It returns "" when address is not a usable address.
func BounceAddress(address string, signer *links.Signer, who links.Subject, issueID int64) string {
	tok := signer.Sign(links.Claims{Purpose: links.PurposeBounce, Ref: issueID, Issued: tokenEpoch}, who)
	return tagged(address, tagBounces+tok)
}

// tagged inserts tag before the @ of address, dropping any sub-address
// address already has.
func tagged(address, tag string) string {
	a, err := subscribers.NormalizeAddress(bareAddr(address))
	if err != nil {
		return ""
	}
	at := strings.LastIndexByte(a, '@')
	local, domain := a[:at], a[at:]
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	return local + tag + domain
}

// bareAddr accepts "Name <a@b>" as well as "a@b".
func bareAddr(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		return s[i+1 : len(s)-1]
	}
	return s
}

var (
	reUnsubTag  = regexp.MustCompile(`(?i)\+unsubscribe-([a-z2-7]{20,80})@`)
	reBounceTag = regexp.MustCompile(`(?i)\+bounces-([a-z2-7]{20,80})@`)
)

// findToken returns the first token after re's tag in any of texts that
// verifies for purpose p against its subscriber as they are now.
func findToken(ctx context.Context, signer *links.Signer, stamps links.StampFunc, re *regexp.Regexp, p links.Purpose, texts ...string) (links.Claims, bool, error) {
	for _, t := range texts {
		for _, m := range re.FindAllStringSubmatch(t, -1) {
			c, err := signer.Verify(ctx, m[1], p, 0, stamps)
			if err == nil {
				return c, true, nil
			}
			if !errors.Is(err, links.ErrTokenInvalid) && !errors.Is(err, links.ErrTokenExpired) {
				return links.Claims{}, false, err
			}
		}
	}
	return links.Claims{}, false, nil
}

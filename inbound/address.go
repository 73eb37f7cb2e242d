package inbound

import (
	"net/url"
	"regexp"
	"strings"
	"time"

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
// [inbound] address) unsubscribes subscriberID whoever sends it. It returns
// "" when address is not a usable address.
func UnsubscribeMailto(address string, tokens *subscribers.Tokens, subscriberID int64) string {
	tok := tokens.SignClaims(subscribers.Claims{Purpose: subscribers.PurposeUnsubscribe, Subscriber: subscriberID, Issued: tokenEpoch})
	a := tagged(address, tagUnsubscribe+tok)
	if a == "" {
		return ""
	}
	// The address is ASCII letters, digits and "+-.@": nothing to escape.
	return "mailto:" + a + "?subject=" + url.QueryEscape("unsubscribe")
}

// BounceAddress returns the VERP return path for one message of issueID to
// subscriberID: <local>+bounces-TOKEN@domain, built from address (the
// [inbound] bounce_address, else address). The sender uses it as MAIL FROM
// so a bounce names its subscriber and issue even when it quotes nothing
// of the original. It returns "" when address is not a usable address.
func BounceAddress(address string, tokens *subscribers.Tokens, subscriberID, issueID int64) string {
	tok := tokens.SignClaims(subscribers.Claims{Purpose: subscribers.PurposeBounce, Subscriber: subscriberID, Ref: issueID, Issued: tokenEpoch})
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
// verifies for purpose p.
func findToken(tokens *subscribers.Tokens, re *regexp.Regexp, p subscribers.Purpose, texts ...string) (subscribers.Claims, bool) {
	for _, t := range texts {
		for _, m := range re.FindAllStringSubmatch(t, -1) {
			if c, err := tokens.Verify(m[1], p, 0); err == nil {
				return c, true
			}
		}
	}
	return subscribers.Claims{}, false
}

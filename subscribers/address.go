package subscribers

import (
	"fmt"
	"net/mail"
	"strings"
)

// MaxAddressLen is the longest address SMTP can carry in a path (RFC 5321
// 4.5.3.1.3: 256 octets including the angle brackets).
const MaxAddressLen = 254

// AddressError says why an address was refused, in words fit for the user.
type AddressError struct {
	Input  string
	Reason string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("subscribers: address %q: %s", e.Input, e.Reason)
}

// NormalizeAddress validates a bare email address as typed by a person or
// found in a CSV file and returns it with the domain lowercased. The local
// part keeps its case: RFC 5321 lets servers treat it as case-sensitive.
func NormalizeAddress(s string) (string, error) {
	in := s
	if strings.ContainsAny(s, "\r\n") {
		// Header injection: a CR/LF must never reach a To: header.
		return "", &AddressError{Input: in, Reason: "contains a line break"}
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", &AddressError{Input: in, Reason: "is empty"}
	case len(s) > MaxAddressLen:
		return "", &AddressError{Input: in, Reason: fmt.Sprintf("is longer than %d characters", MaxAddressLen)}
	case strings.ContainsAny(s, "<>"):
		return "", &AddressError{Input: in, Reason: "give the bare address, without a name or angle brackets"}
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", &AddressError{Input: in, Reason: "contains a control character"}
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", &AddressError{Input: in, Reason: "is not a valid email address"}
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	switch {
	case len(local) > 64:
		return "", &AddressError{Input: in, Reason: "the part before @ is longer than 64 characters"}
	case strings.HasPrefix(domain, "["):
		return "", &AddressError{Input: in, Reason: "IP address literals are not accepted"}
	case !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "."):
		return "", &AddressError{Input: in, Reason: "the domain must be a full domain name like example.org"}
	case strings.Contains(domain, ".."):
		return "", &AddressError{Input: in, Reason: "the domain has an empty label"}
	}
	for _, label := range strings.Split(domain, ".") {
		if len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "", &AddressError{Input: in, Reason: "the domain is not a valid host name"}
		}
	}
	return local + "@" + domain, nil
}

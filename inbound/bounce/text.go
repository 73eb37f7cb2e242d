package bounce

import (
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
)

// A textFormat recognises one MTA's plain-text failure notice.
type textFormat struct {
	name    string
	markers []string // any of these, case-insensitive, identifies the format
	parse   func(text string) []Recipient
}

var textFormats = []textFormat{
	{"qmail", []string{"this is the qmail-send program"}, angleList},
	{"yahoo", []string{"we were unable to deliver your message to the following address"}, angleList},
	{"exim", []string{"this message was created automatically by mail delivery software"}, exim},
	{"postfix", []string{"this is the mail system at host", "this is the postfix program at host"}, postfix},
	{"exchange", []string{"delivery has failed to these recipients or groups", "did not reach some or all of the intended recipients", "your message to %s couldn't be delivered"}, exchange},
	{"gmail", []string{"** address not found **", "** message not delivered **", "** message blocked **", "** mailbox full **", "** delivery incomplete **", "delivery to the following recipient failed permanently", "delivery to the following recipient has been delayed", "delivery to the following recipients failed permanently", "wasn't delivered to"}, gmail},
}

// parseText recognises plain-text failure notices (no DSN part).
func parseText(r *Report, h textproto.MIMEHeader) {
	lower := strings.ToLower(r.Text)
	for _, f := range textFormats {
		for _, m := range f.markers {
			if matchesSplit(lower, m) {
				r.IsBounce = true
				r.Format = f.name
				r.Recipients = f.parse(normalise(r.Text))
				return
			}
		}
	}
	if fromDaemon(h) && reBounceSubject.MatchString(decodeWords(h.Get("Subject"))) {
		r.IsBounce = true
		r.Format = "generic"
		r.Recipients = angleList(normalise(r.Text))
		if len(r.Recipients) > 0 {
			return
		}
		r.Recipients = codeLines(normalise(r.Text))
	}
}

// matchesSplit matches a marker, which may have one %s hole ("your
// message to %s couldn't be delivered"), against lower.
func matchesSplit(lower, m string) bool {
	pre, post, hole := strings.Cut(m, "%s")
	if !hole {
		return strings.Contains(lower, m)
	}
	i := strings.Index(lower, pre)
	return i >= 0 && strings.Contains(lower[i+len(pre):], post)
}

var reBounceSubject = regexp.MustCompile(`(?i)undeliver|undelivered|returned mail|delivery (status notification|failure|failed|has failed|problem)|mail delivery (failed|failure|subsystem)|failure notice|non[- ]?delivery|could not be delivered|delivery report|returned to sender|mail system error`)

// fromDaemon reports whether the message comes from a mail system rather
// than a person: a null return path or a mailer-daemon/postmaster sender.
func fromDaemon(h textproto.MIMEHeader) bool {
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp == "<>" {
		return true
	}
	a, err := mail.ParseAddress(decodeWords(h.Get("From")))
	if err != nil {
		return false
	}
	local := strings.ToLower(a.Address)
	if at := strings.IndexByte(local, '@'); at >= 0 {
		local = local[:at]
	}
	switch local {
	case "mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster", "maildaemon":
		return true
	}
	return false
}

func normalise(s string) string {
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// cutCopy drops the returned original message that many formats paste
// after their report, so its addresses are not taken for recipients.
func cutCopy(text string) string {
	lower := strings.ToLower(text)
	cut := len(text)
	for _, m := range []string{"--- below this line is a copy of the message", "------ this is a copy of the message", "original message headers:", "----- original message", "--- original message"} {
		if i := strings.Index(lower, m); i >= 0 && i < cut {
			cut = i
		}
	}
	return text[:cut]
}

var (
	reAngleLine = regexp.MustCompile(`^<([^<>\s]+@[^<>\s]+)>:?\s*(.*)$`)
	reAddr      = regexp.MustCompile(`[A-Za-z0-9._%+\-=!#$&'*/?^{|}~]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
)

// angleList reads the qmail/Yahoo shape: a "<address>:" line, then the
// diagnostic lines up to a blank line.
func angleList(text string) []Recipient {
	var out []Recipient
	var cur *Recipient
	var diag []string
	flush := func() {
		if cur != nil {
			cur.Diagnostic = strings.Join(strings.Fields(strings.Join(diag, " ")), " ")
			out = append(out, *cur)
		}
		cur, diag = nil, nil
	}
	for _, line := range strings.Split(cutCopy(text), "\n") {
		if m := reAngleLine.FindStringSubmatch(strings.TrimRight(line, " \t")); m != nil {
			flush()
			cur = &Recipient{Address: m[1]}
			if m[2] != "" {
				diag = append(diag, m[2])
			}
			continue
		}
		if cur == nil {
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		diag = append(diag, strings.TrimSpace(line))
	}
	flush()
	return out
}

// postfix reads Postfix's non-DSN notice: "<address>: text" with indented
// continuation lines, after "The mail system". Delay warnings say so in a
// banner.
func postfix(text string) []Recipient {
	rs := angleList(text)
	if strings.Contains(strings.ToLower(text), "this is a warning only") {
		for i := range rs {
			rs[i].Action = "delayed"
		}
	}
	return rs
}

// exim reads Exim's notice: "The following address(es) failed:" then the
// addresses indented by two spaces and their diagnostics indented deeper.
func exim(text string) []Recipient {
	lower := strings.ToLower(text)
	delayed := strings.Contains(lower, "has not yet been delivered")
	start := strings.Index(lower, "address(es) failed:")
	if start < 0 {
		start = strings.Index(lower, "following address(es)")
	}
	if start < 0 {
		start = strings.Index(lower, "not yet been delivered is:")
	}
	if start < 0 {
		start = strings.Index(lower, "not yet been delivered are:")
	}
	if start < 0 {
		return nil
	}
	rs := indentedList(text[start:])
	if delayed {
		for i := range rs {
			rs[i].Action = "delayed"
		}
	}
	return rs
}

// indentedList reads, after its first line, address lines at one indent
// and their diagnostics indented deeper, up to the first unindented line.
func indentedList(text string) []Recipient {
	lines := strings.Split(cutCopy(text), "\n")
	var out []Recipient
	var diag []string
	base := -1
	flush := func() {
		if len(out) > 0 && len(diag) > 0 {
			out[len(out)-1].Diagnostic = strings.Join(strings.Fields(strings.Join(diag, " ")), " ")
		}
		diag = nil
	}
	for _, line := range lines[1:] {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		first := strings.Fields(trimmed)[0]
		isAddr := reAddr.MatchString(first)
		switch {
		case isAddr && (base < 0 || indent <= base):
			flush()
			if base < 0 {
				base = indent
			}
			out = append(out, Recipient{Address: reAddr.FindString(first)})
		case base >= 0 && indent > base:
			diag = append(diag, trimmed)
		case base >= 0:
			flush()
			return out
		}
	}
	flush()
	return out
}

var reRemoteReturned = regexp.MustCompile(`(?i)remote server returned '([^']*)'`)

// exchange reads Microsoft Exchange / Outlook.com NDR text, modern
// ("Delivery has failed to these recipients or groups:") and legacy
// ("The following recipient(s) cannot be reached:").
func exchange(text string) []Recipient {
	lower := strings.ToLower(text)
	if i := strings.Index(lower, "cannot be reached:"); i >= 0 {
		return indentedList(text[i:])
	}
	start := strings.Index(lower, "delivery has failed to these recipients or groups:")
	if start < 0 {
		start = 0
	}
	end := strings.Index(lower[start:], "diagnostic information for administrators")
	section, diagSection := text[start:], ""
	if end >= 0 {
		section, diagSection = text[start:start+end], text[start+end:]
	}
	var out []Recipient
	seen := map[string]bool{}
	lines := strings.Split(section, "\n")
	for i, line := range lines {
		fields := strings.Fields(line)
		if i == 0 || len(fields) == 0 || !reAddr.MatchString(fields[0]) {
			continue
		}
		addr := reAddr.FindString(fields[0])
		if seen[strings.ToLower(addr)] {
			continue
		}
		seen[strings.ToLower(addr)] = true
		rc := Recipient{Address: addr}
		for _, next := range lines[i+1:] {
			if s := strings.TrimSpace(next); s != "" {
				rc.Diagnostic = s
				break
			}
		}
		if j := strings.Index(strings.ToLower(diagSection), strings.ToLower(addr)); j >= 0 {
			if m := reRemoteReturned.FindStringSubmatch(diagSection[j:]); m != nil {
				rc.Diagnostic = m[1]
			}
		} else if m := reRemoteReturned.FindStringSubmatch(diagSection); m != nil && len(out) == 0 {
			rc.Diagnostic = m[1]
		}
		out = append(out, rc)
	}
	return out
}

var (
	reGmailTo    = regexp.MustCompile(`(?i)wasn't delivered to\s+(\S+@\S+)`)
	reGmailList  = regexp.MustCompile(`(?i)following recipients? (?:failed permanently|has been delayed|have been delayed):\s*\n((?:\s*\S+@\S+\s*\n)+)`)
	reGmailReply = regexp.MustCompile(`(?is)(?:the response from the remote server was|the error that the other server returned was):\s*\n(.+?)(?:\n\s*\n|$)`)
	reGmailTitle = regexp.MustCompile(`\*\* ([^*]+) \*\*`)
)

// gmail reads Gmail's text notices, current ("** Address not found **")
// and older ("Delivery to the following recipient failed permanently").
func gmail(text string) []Recipient {
	lower := strings.ToLower(text)
	var addrs []string
	if m := reGmailTo.FindStringSubmatch(text); m != nil {
		addrs = append(addrs, strings.TrimRight(m[1], ".,;:"))
	}
	if m := reGmailList.FindStringSubmatch(text); m != nil {
		addrs = append(addrs, reAddr.FindAllString(m[1], -1)...)
	}
	diag := ""
	if m := reGmailReply.FindStringSubmatch(text); m != nil {
		diag = strings.Join(strings.Fields(m[1]), " ")
	} else if m := reGmailTitle.FindStringSubmatch(text); m != nil {
		diag = m[1]
	}
	delayed := strings.Contains(lower, "has been delayed") || strings.Contains(lower, "** delivery incomplete **")
	var out []Recipient
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[strings.ToLower(a)] {
			continue
		}
		seen[strings.ToLower(a)] = true
		rc := Recipient{Address: a, Diagnostic: diag}
		if delayed {
			rc.Action = "delayed"
		}
		if strings.Contains(lower, "** address not found **") && rc.Status == "" && !reEnhanced.MatchString(diag) {
			rc.Status = "5.1.1"
		}
		if strings.Contains(lower, "** mailbox full **") && !reEnhanced.MatchString(diag) {
			rc.Status = "4.2.2"
		}
		out = append(out, rc)
	}
	return out
}

var reCodeLine = regexp.MustCompile(`(?m)^.*\b[45]\d\d\b.*$`)

// codeLines is the last resort for an unknown notice: lines that carry an
// SMTP code and an address.
func codeLines(text string) []Recipient {
	var out []Recipient
	seen := map[string]bool{}
	for _, line := range reCodeLine.FindAllString(cutCopy(text), -1) {
		a := reAddr.FindString(line)
		if a == "" || seen[strings.ToLower(a)] {
			continue
		}
		seen[strings.ToLower(a)] = true
		out = append(out, Recipient{Address: a, Diagnostic: strings.TrimSpace(line)})
	}
	return out
}

// firstDiagnostic picks the first line with an SMTP code, for a recipient
// known only from the returned headers.
func firstDiagnostic(text string) string {
	return strings.TrimSpace(reCodeLine.FindString(cutCopy(normalise(text))))
}

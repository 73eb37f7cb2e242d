package bounce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTestdata(t *testing.T) {
	type rcpt struct {
		addr, status, action string
		hard                 bool
		diag                 string // substring of the diagnostic
	}
	tests := []struct {
		file      string
		isBounce  bool
		format    string
		origID    string
		origTo    string
		recipient []rcpt
	}{
		{"dsn-rfc3464-hard.eml", true, "dsn", "issue-7.sub-42@example.org", "Louisa@example.net",
			[]rcpt{{"Louisa@example.net", "5.1.1", "failed", true, "User unknown"}}},
		{"dsn-multi-recipient.eml", true, "dsn", "issue-8.sub-5@example.org", "",
			[]rcpt{
				{"gone@example.com", "5.1.1", "failed", true, "User unknown in local recipient table"},
				{"full@example.com", "5.2.2", "failed", false, "Mailbox full"},
				{"slow@example.com", "4.4.1", "delayed", false, "timed out"},
			}},
		{"postfix-dsn.eml", true, "dsn", "issue-8.sub-17@example.org", "nobody@example.net",
			[]rcpt{{"nobody@example.net", "5.1.1", "failed", true, "rejected: User unknown in virtual mailbox table"}}},
		{"postfix-dsn-expired.eml", true, "dsn", "issue-8.sub-23@example.org", "reader@example.com",
			[]rcpt{{"reader@example.com", "4.4.1", "failed", false, "Connection timed out"}}},
		{"postfix-plain.eml", true, "postfix", "issue-8.sub-31@example.org", "quota@example.net",
			[]rcpt{{"quota@example.net", "5.2.2", "failed", false, "Mailbox full"}}},
		{"qmail.eml", true, "qmail", "issue-8.sub-44@example.org", "someone@example.net",
			[]rcpt{{"someone@example.net", "5.1.1", "failed", true, "no mailbox here"}}},
		{"qmail-remote.eml", true, "qmail", "issue-8.sub-45@example.org", "far@example.com",
			[]rcpt{{"far@example.com", "5.1.1", "failed", true, "Remote host said: 550 5.1.1"}}},
		{"exim.eml", true, "exim", "issue-8.sub-50@example.org", "missing@example.com",
			[]rcpt{{"missing@example.com", "5.1.1", "failed", true, "SMTP error from remote mail server"}}},
		{"exim-quota.eml", true, "exim", "issue-8.sub-51@example.org", "stuffed@example.com",
			[]rcpt{{"stuffed@example.com", "4.2.2", "failed", false, "quota exceeded"}}},
		{"exim-delay.eml", true, "exim", "", "",
			[]rcpt{{"waiting@example.com", "4.7.1", "delayed", false, "Greylisted"}}},
		{"exchange-ndr.eml", true, "exchange", "issue-8.sub-60@example.org", "jdoe@corp.example.com",
			[]rcpt{{"jdoe@corp.example.com", "5.1.10", "failed", true, "RecipientNotFound"}}},
		{"exchange-legacy.eml", true, "exchange", "", "",
			[]rcpt{{"old.user@legacy.example.com", "5.1.1", "failed", true, "does not exist"}}},
		{"gmail-text.eml", true, "gmail", "issue-8.sub-70@example.org", "nosuchuser@example.com",
			[]rcpt{{"nosuchuser@example.com", "5.1.1", "failed", true, "does not exist"}}},
		{"gmail-legacy.eml", true, "gmail", "issue-8.sub-71@example.org", "reader.two@example.com",
			[]rcpt{{"reader.two@example.com", "5.1.1", "failed", true, "User unknown"}}},
		{"yahoo.eml", true, "yahoo", "issue-8.sub-80@example.org", "ghost@yahoo.example",
			[]rcpt{{"ghost@yahoo.example", "5.1.1", "failed", true, "doesn't have a yahoo.example account"}}},
		{"dsn-policy.eml", true, "dsn", "", "",
			[]rcpt{{"reader3@example.com", "5.7.26", "failed", false, "DMARC"}}},
		{"out-of-office.eml", false, "", "", "", nil},
		{"person.eml", false, "", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if r.IsBounce != tt.isBounce || r.Format != tt.format {
				t.Fatalf("IsBounce, Format = %v, %q; want %v, %q", r.IsBounce, r.Format, tt.isBounce, tt.format)
			}
			if r.OriginalMessageID != tt.origID {
				t.Errorf("OriginalMessageID = %q, want %q", r.OriginalMessageID, tt.origID)
			}
			if r.OriginalTo != tt.origTo {
				t.Errorf("OriginalTo = %q, want %q", r.OriginalTo, tt.origTo)
			}
			if len(r.Recipients) != len(tt.recipient) {
				t.Fatalf("recipients = %+v, want %d", r.Recipients, len(tt.recipient))
			}
			for i, want := range tt.recipient {
				got := r.Recipients[i]
				if got.Address != want.addr || got.Status != want.status || got.Action != want.action || got.Hard != want.hard {
					t.Errorf("recipient %d = {%q %q %q hard=%v}, want {%q %q %q hard=%v}", i,
						got.Address, got.Status, got.Action, got.Hard, want.addr, want.status, want.action, want.hard)
				}
				if !strings.Contains(got.Diagnostic, want.diag) {
					t.Errorf("recipient %d diagnostic = %q, want it to contain %q", i, got.Diagnostic, want.diag)
				}
			}
		})
	}
}

func TestParseEncodedDSN(t *testing.T) {
	// A delivery-status part sent base64 with CRLF line ends, as some
	// Exchange servers do.
	raw := "From: postmaster@example.com\r\nTo: b@example.org\r\nSubject: Undeliverable\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--x\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"UmVwb3J0aW5nLU1UQTogZG5zO214LmV4YW1wbGUuY29tDQoNCkZpbmFsLVJlY2lwaWVudDogcmZj\r\n" +
		"ODIyO2JvYkBleGFtcGxlLmNvbQ0KQWN0aW9uOiBmYWlsZWQNClN0YXR1czogNS4xLjEwDQo=\r\n" +
		"--x--\r\n"
	r, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Recipients) != 1 || r.Recipients[0].Address != "bob@example.com" || r.Recipients[0].Status != "5.1.10" || !r.Recipients[0].Hard {
		t.Fatalf("recipients = %+v", r.Recipients)
	}
}

func TestHard(t *testing.T) {
	tests := []struct {
		status, diag string
		want         bool
	}{
		{"5.1.1", "", true},
		{"5.0.0", "", true},
		{"5.2.1", "mailbox disabled", true},
		{"5.2.2", "mailbox full", false},
		{"5.7.1", "message rejected as spam", false},
		{"5.7.1", "550 5.7.1 user unknown", true},
		{"4.2.2", "over quota", false},
		{"4.0.0", "", false},
		{"5.4.4", "unable to route", true},
	}
	for _, tt := range tests {
		t.Run(tt.status+" "+tt.diag, func(t *testing.T) {
			if got := hard(tt.status, tt.diag); got != tt.want {
				t.Errorf("hard(%q, %q) = %v, want %v", tt.status, tt.diag, got, tt.want)
			}
		})
	}
}

func TestParseNotAMessage(t *testing.T) {
	if _, err := Parse([]byte("no header here, just words")); err == nil {
		t.Fatal("want an error for a message without a header")
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Parse(raw)
		if err != nil {
			return
		}
		for _, rc := range r.Recipients {
			if rc.Hard && !rc.Failed() {
				t.Fatalf("a recipient that did not fail is hard: %+v", rc)
			}
			if rc.Status == "" {
				t.Fatalf("recipient without status: %+v", rc)
			}
		}
	})
}

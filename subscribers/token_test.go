package subscribers

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tk, err := NewTokens([]byte("0123456789abcdef0123"), clock)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewTokens([]byte("another-key-of-enough-length"), clock)
	tok := tk.Sign(PurposeUnsubscribe, 4242)

	t.Run("round trip", func(t *testing.T) {
		c, err := tk.Verify(tok, PurposeUnsubscribe, 60*24*time.Hour)
		if err != nil || c.Subscriber != 4242 || !c.Issued.Equal(now) {
			t.Fatalf("got %+v, %v", c, err)
		}
		if _, err := tk.Verify(strings.ToUpper(tok), PurposeUnsubscribe, 0); err != nil {
			t.Fatalf("uppercased token (a server lowercasing/uppercasing a local part) refused: %v", err)
		}
	})
	t.Run("wrong purpose", func(t *testing.T) {
		if _, err := tk.Verify(tok, PurposeConfirm, 0); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("other key", func(t *testing.T) {
		if _, err := other.Verify(tok, PurposeUnsubscribe, 0); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		for i := range tok {
			b := []byte(tok)
			if b[i] == 'a' {
				b[i] = 'b'
			} else {
				b[i] = 'a'
			}
			if _, err := tk.Verify(string(b), PurposeUnsubscribe, 0); err == nil {
				t.Fatalf("tampered at %d accepted", i)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, s := range []string{"", "x", "!!!!", strings.Repeat("a", 200)} {
			if _, err := tk.Verify(s, PurposeUnsubscribe, 0); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("%q: got %v", s, err)
			}
		}
	})
	t.Run("expiry", func(t *testing.T) {
		conf := tk.Sign(PurposeConfirm, 7)
		later, _ := NewTokens([]byte("0123456789abcdef0123"), func() time.Time { return now.Add(49 * time.Hour) })
		if _, err := later.Verify(conf, PurposeConfirm, 48*time.Hour); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("confirm after 49h: got %v", err)
		}
		sixtyDays, _ := NewTokens([]byte("0123456789abcdef0123"), func() time.Time { return now.Add(60 * 24 * time.Hour) })
		if _, err := sixtyDays.Verify(tok, PurposeUnsubscribe, 90*24*time.Hour); err != nil {
			t.Fatalf("unsubscribe after 60 days: %v", err)
		}
	})
	t.Run("short key refused", func(t *testing.T) {
		if _, err := NewTokens([]byte("short"), nil); err == nil {
			t.Fatal("short key accepted")
		}
	})
	t.Run("fits a mailto local part", func(t *testing.T) {
		c := tk.SignClaims(Claims{Purpose: PurposeBounce, Subscriber: 1 << 40, Issued: now, Ref: 1 << 30})
		if len("bounces+"+c) > 64 {
			t.Fatalf("bounce token too long for a local part: %d", len(c))
		}
	})
}

func FuzzVerify(f *testing.F) {
	tk, _ := NewTokens([]byte("0123456789abcdef0123"), nil)
	f.Add(tk.Sign(PurposeConfirm, 1))
	f.Add("")
	f.Add("aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Verify(s, PurposeConfirm, 0)
		if err == nil && tk.SignClaims(c) != strings.ToLower(strings.TrimSpace(s)) {
			// A token that verifies must be the canonical encoding of its claims.
			t.Fatalf("accepted non-canonical token %q", s)
		}
	})
}

func TestNormalizeAddress(t *testing.T) {
	tests := []struct {
		in, want, reason string
	}{
		{in: "Alice@Example.ORG", want: "Alice@example.org"},
		{in: "  bob@example.org ", want: "bob@example.org"},
		{in: "a.b+tag@sub.example.co.uk", want: "a.b+tag@sub.example.co.uk"},
		{in: "", reason: "empty"},
		{in: "bob@example.org\r\nBcc: x@y.org", reason: "line break"},
		{in: "bob@example.org\n", reason: "line break"},
		{in: "Bob <bob@example.org>", reason: "bare address"},
		{in: "bob", reason: "not a valid"},
		{in: "bob@localhost", reason: "full domain"},
		{in: "bob@[127.0.0.1]", reason: "IP address"},
		{in: "bob@@example.org", reason: "not a valid"},
		{in: strings.Repeat("a", 65) + "@example.org", reason: "64"},
		{in: strings.Repeat("a", 60) + "@" + strings.Repeat("b", 200) + ".org", reason: "254"},
		{in: "bob@-example.org", reason: "host name"},
		{in: "bob@example..org", reason: "not a valid"},
		{in: "bo\x00b@example.org", reason: "control"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeAddress(tt.in)
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var ae *AddressError
			if !errors.As(err, &ae) || !strings.Contains(ae.Reason, tt.reason) {
				t.Fatalf("got %q, %v; want an error mentioning %q", got, err, tt.reason)
			}
		})
	}
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"a@example.org", "x\r\n@y.z", "\"q uoted\"@example.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeAddress(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(got, "\r\n<>") || len(got) > MaxAddressLen {
			t.Fatalf("accepted unsafe %q", got)
		}
		again, err := NormalizeAddress(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}

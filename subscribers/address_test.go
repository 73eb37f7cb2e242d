package subscribers

import (
	"errors"
	"strings"
	"testing"
)

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

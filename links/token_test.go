package links

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// stampsOf answers stamps from a map, as the store would.
func stampsOf(m map[int64]int64) StampFunc {
	return func(_ context.Context, id int64) (int64, bool, error) {
		s, ok := m[id]
		return s, ok, nil
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tk, err := NewSigner([]byte("0123456789abcdef0123"), clock)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner([]byte("another-key-of-enough-length"), clock)
	who := Subject{ID: 4242, Stamp: 987654321}
	stamps := stampsOf(map[int64]int64{4242: who.Stamp, 7: 0})
	tok := tk.Sign(Claims{Purpose: PurposeUnsubscribe}, who)

	t.Run("round trip", func(t *testing.T) {
		c, err := tk.Verify(ctx, tok, PurposeUnsubscribe, 60*24*time.Hour, stamps)
		if err != nil || c.Subscriber != 4242 || !c.Issued.Equal(now) {
			t.Fatalf("got %+v, %v", c, err)
		}
		if _, err := tk.Verify(ctx, strings.ToUpper(tok), PurposeUnsubscribe, 0, stamps); err != nil {
			t.Fatalf("uppercased token (a server lowercasing/uppercasing a local part) refused: %v", err)
		}
	})
	t.Run("wrong purpose", func(t *testing.T) {
		if _, err := tk.Verify(ctx, tok, PurposeConfirm, 0, stamps); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("other key", func(t *testing.T) {
		if _, err := other.Verify(ctx, tok, PurposeUnsubscribe, 0, stamps); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("dies with its subscriber", func(t *testing.T) {
		gone := stampsOf(map[int64]int64{})
		if _, err := tk.Verify(ctx, tok, PurposeUnsubscribe, 0, gone); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("subscriber removed: got %v", err)
		}
		// A new row that got the same id has another stamp.
		reborn := stampsOf(map[int64]int64{4242: 123})
		if _, err := tk.Verify(ctx, tok, PurposeUnsubscribe, 0, reborn); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("same id, other stamp: got %v", err)
		}
	})
	t.Run("stamp 0 signs like the tokens made before stamps", func(t *testing.T) {
		old := tk.Sign(Claims{Purpose: PurposeUnsubscribe}, Subject{ID: 7})
		if _, err := tk.Verify(ctx, old, PurposeUnsubscribe, 0, stamps); err != nil {
			t.Fatal(err)
		}
		// The pre-stamp format: HMAC over the payload alone.
		raw, _ := enc.DecodeString(old)
		payload := raw[:len(raw)-macLen]
		if got := enc.EncodeToString(append(payload, tk.mac(payload, 0)...)); got != old {
			t.Fatal("stamp 0 changed the signature")
		}
	})
	t.Run("store error is not the reader's fault", func(t *testing.T) {
		boom := errors.New("disk I/O error")
		_, err := tk.Verify(ctx, tok, PurposeUnsubscribe, 0, func(context.Context, int64) (int64, bool, error) { return 0, false, boom })
		if !errors.Is(err, boom) || errors.Is(err, ErrTokenInvalid) {
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
			if _, err := tk.Verify(ctx, string(b), PurposeUnsubscribe, 0, stamps); err == nil {
				t.Fatalf("tampered at %d accepted", i)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, s := range []string{"", "x", "!!!!", strings.Repeat("a", 200)} {
			if _, err := tk.Verify(ctx, s, PurposeUnsubscribe, 0, stamps); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("%q: got %v", s, err)
			}
		}
	})
	t.Run("expiry", func(t *testing.T) {
		conf := tk.Sign(Claims{Purpose: PurposeConfirm}, Subject{ID: 7})
		later, _ := NewSigner([]byte("0123456789abcdef0123"), func() time.Time { return now.Add(49 * time.Hour) })
		if _, err := later.Verify(ctx, conf, PurposeConfirm, 48*time.Hour, stamps); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("confirm after 49h: got %v", err)
		}
		sixtyDays, _ := NewSigner([]byte("0123456789abcdef0123"), func() time.Time { return now.Add(60 * 24 * time.Hour) })
		if _, err := sixtyDays.Verify(ctx, tok, PurposeUnsubscribe, 90*24*time.Hour, stamps); err != nil {
			t.Fatalf("unsubscribe after 60 days: %v", err)
		}
	})
	t.Run("short key refused", func(t *testing.T) {
		if _, err := NewSigner([]byte("short"), nil); err == nil {
			t.Fatal("short key accepted")
		}
	})
	t.Run("fits a mailto local part", func(t *testing.T) {
		c := tk.Sign(Claims{Purpose: PurposeBounce, Issued: now, Ref: 1 << 30}, Subject{ID: 1 << 40, Stamp: 1<<62 + 5})
		if len("bounces+"+c) > 64 {
			t.Fatalf("bounce token too long for a local part: %d", len(c))
		}
	})
}

func TestBuilder(t *testing.T) {
	tk, _ := NewSigner([]byte("0123456789abcdef0123"), nil)
	for _, bad := range []string{"", "news.example.org", "ftp://x.org", "https://"} {
		if _, err := NewBuilder(bad, tk); err == nil {
			t.Errorf("base_url %q accepted", bad)
		}
	}
	b, err := NewBuilder("https://news.example.org/brief/", tk)
	if err != nil {
		t.Fatal(err)
	}
	who := Subject{ID: 3, Stamp: 99}
	issued := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u := b.UnsubscribeURL(who, issued)
	if !strings.HasPrefix(u, "https://news.example.org/brief/unsubscribe?token=") {
		t.Fatalf("unsubscribe URL %q", u)
	}
	if u != b.UnsubscribeURL(who, issued) {
		t.Fatal("same issue time, different URL: a resumed send would differ")
	}
	stamps := stampsOf(map[int64]int64{3: 99})
	tok := strings.TrimPrefix(u, "https://news.example.org/brief/unsubscribe?token=")
	if c, err := tk.Verify(context.Background(), tok, PurposeUnsubscribe, 0, stamps); err != nil || c.Subscriber != 3 {
		t.Fatalf("token in the URL: %+v %v", c, err)
	}
	for got, want := range map[string]string{
		b.URL(Home):                  "https://news.example.org/brief/",
		b.URL(Confirm):               "https://news.example.org/brief/confirm",
		Relative(Preferences, "abc"): "./preferences?token=abc",
		Relative(Home, ""):           "./",
		Pattern("GET", Home):         "GET /{$}",
		Pattern("POST", Unsubscribe): "POST /unsubscribe",
		strings.Split(b.ConfirmURL(who, issued), "?")[0]: "https://news.example.org/brief/confirm",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	nosign, _ := NewBuilder("https://news.example.org", nil)
	if u := nosign.PreferencesURL(who, issued); u != "https://news.example.org/preferences?token="+Placeholder {
		t.Fatalf("without a signer: %q", u)
	}
}

func FuzzVerify(f *testing.F) {
	tk, _ := NewSigner([]byte("0123456789abcdef0123"), nil)
	stamps := func(_ context.Context, id int64) (int64, bool, error) { return id * 31, true, nil }
	f.Add(tk.Sign(Claims{Purpose: PurposeConfirm}, Subject{ID: 1, Stamp: 31}))
	f.Add("")
	f.Add("aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Verify(context.Background(), s, PurposeConfirm, 0, stamps)
		if err == nil && tk.Sign(c, Subject{ID: c.Subscriber, Stamp: c.Subscriber * 31}) != strings.ToLower(strings.TrimSpace(s)) {
			// A token that verifies must be the canonical encoding of its claims.
			t.Fatalf("accepted non-canonical token %q", s)
		}
	})
}

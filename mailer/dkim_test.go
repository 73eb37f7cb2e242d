package mailer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

// writeKey stores key as PEM in the test's folder and returns the path.
func writeKey(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// txtRecord is the DNS record a domain would publish for pub.
func txtRecord(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	}
	t.Fatalf("key %T", pub)
	return ""
}

func verifyDKIM(t *testing.T, data []byte, txt string) *dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "brief2026._domainkey.example.org" {
				t.Errorf("lookup of %q", domain)
			}
			return []string{txt}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 {
		t.Fatalf("%d signatures", len(vs))
	}
	if vs[0].Err != nil {
		t.Fatalf("signature does not verify: %v", vs[0].Err)
	}
	return vs[0]
}

func TestDKIMSignAndVerify(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPKCS8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	edPKCS8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	tests := []struct {
		name string
		typ  string
		der  []byte
		pub  crypto.PublicKey
	}{
		{"rsa pkcs1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), &rsaKey.PublicKey},
		{"rsa pkcs8", "PRIVATE KEY", rsaPKCS8, &rsaKey.PublicKey},
		{"ed25519 pkcs8", "PRIVATE KEY", edPKCS8, edKey.Public()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, err := LoadDKIMKey(writeKey(t, tt.typ, tt.der))
			if err != nil {
				t.Fatal(err)
			}
			s := smtptest.Start(t)
			m := newTestMailer(t, s, func(o *Options) {
				o.DKIM = &DKIMOptions{Domain: "example.org", Selector: "brief2026", Signer: signer}
			})
			txt := txtRecord(t, tt.pub)

			// The .eml bytes of a dry run verify...
			long := testMessage(3)
			long.UnsubscribeURL += strings.Repeat("x", 200) // folded by go-mail
			long.ListID = "Die Übersicht <brief.example.org>"
			built, err := m.Build(long)
			if err != nil {
				t.Fatal(err)
			}
			v := verifyDKIM(t, built, txt)
			if v.Domain != "example.org" {
				t.Errorf("d=%q", v.Domain)
			}
			keys := make([]string, len(v.HeaderKeys))
			for i, k := range v.HeaderKeys {
				keys[i] = strings.ToLower(k)
			}
			for _, want := range []string{"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post", "list-id"} {
				if !slices.Contains(keys, want) {
					t.Errorf("h= %v lacks %s", keys, want)
				}
			}

			// ...and so does what the server received.
			if err := m.Send(context.Background(), testMessage(3)); err != nil {
				t.Fatal(err)
			}
			got := s.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages", len(got))
			}
			verifyDKIM(t, got[0].Data, txt)

			// A changed unsubscribe header breaks the signature.
			tampered := bytes.Replace(got[0].Data, []byte("token=tok3>"), []byte("token=evil>"), 1)
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{
				LookupTXT: func(string) ([]string, error) { return []string{txt}, nil },
			})
			if err != nil || len(vs) != 1 || vs[0].Err == nil {
				t.Errorf("tampered List-Unsubscribe still verifies (err %v)", err)
			}
		})
	}
}

func TestLoadDKIMKeyRejects(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	tests := []struct {
		name, typ string
		der       []byte
	}{
		{"ecdsa", "PRIVATE KEY", ecDER},
		{"garbage", "PRIVATE KEY", []byte("not a key")},
		{"certificate", "CERTIFICATE", []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadDKIMKey(writeKey(t, tt.typ, tt.der)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := LoadDKIMKey(filepath.Join(t.TempDir(), "missing.pem")); err == nil || !strings.Contains(err.Error(), "mailer: dkim key") {
		t.Fatalf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(p, []byte("no pem here"), 0o600)
	if _, err := LoadDKIMKey(p); err == nil {
		t.Fatal("non-PEM accepted")
	}
}

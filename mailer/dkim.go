package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMOptions signs every message with d=Domain, s=Selector.
type DKIMOptions struct {
	Domain, Selector string
	Signer           crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// signedHeaders are the fields the signature covers when present. RFC 8058
// wants both List-Unsubscribe fields signed; go-mail's signer leaves them out
// by default and folds long h= lists so that verification fails, so signing
// is done with go-msgauth directly.
var signedHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID",
	"List-Unsubscribe", "List-Unsubscribe-Post",
	"Reply-To", "List-Id", "MIME-Version", "Content-Type",
}

// LoadDKIMKey reads a PEM private key: RSA (PKCS#1 or PKCS#8, at least 1024
// bits) or Ed25519 (PKCS#8).
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mailer: dkim key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("mailer: dkim key %s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("mailer: dkim key %s: PEM type %q, want RSA PRIVATE KEY or PRIVATE KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("mailer: dkim key %s: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("mailer: dkim key %s: RSA key of %d bits, want at least 1024", path, k.N.BitLen())
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("mailer: dkim key %s: %T is not usable for DKIM (RSA or Ed25519)", path, key)
	}
}

func (d *DKIMOptions) check() error {
	if d.Domain == "" || d.Selector == "" || d.Signer == nil {
		return fmt.Errorf("mailer: dkim: domain, selector and key are all required")
	}
	switch d.Signer.Public().(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("mailer: dkim: %T is not an RSA or Ed25519 key", d.Signer.Public())
}

// sign prepends a DKIM-Signature header to raw.
func (d *DKIMOptions) sign(raw []byte) ([]byte, error) {
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 d.Domain,
		Selector:               d.Selector,
		Signer:                 d.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             presentHeaders(raw),
	})
	if err != nil {
		return nil, fmt.Errorf("mailer: dkim: %w", err)
	}
	if _, err := s.Write(raw); err != nil {
		s.Close()
		return nil, fmt.Errorf("mailer: dkim: %w", err)
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("mailer: dkim: %w", err)
	}
	sig := s.Signature()
	out := make([]byte, 0, len(sig)+len(raw))
	out = append(out, sig...)
	return append(out, raw...), nil
}

// presentHeaders lists the signedHeaders that raw's header block has, so
// h= names no field the message lacks.
func presentHeaders(raw []byte) []string {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	head := bytes.ToLower(raw[:end+2])
	keys := make([]string, 0, len(signedHeaders))
	for _, k := range signedHeaders {
		needle := []byte(strings.ToLower(k) + ":")
		if bytes.HasPrefix(head, needle) || bytes.Contains(head, append([]byte("\n"), needle...)) {
			keys = append(keys, k)
		}
	}
	return keys
}

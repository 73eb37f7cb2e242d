// Command dkimcheck verifies the DKIM signatures of a raw message against a
// public key given as a PEM file instead of DNS, for the end-to-end script
// (there is no DNS for example.org here). It prints each signature's domain,
// result and signed headers, and fails unless every signature verifies and
// both RFC 8058 headers are signed.
//
// Usage: go run ./scripts/dkimcheck -pub key.pub.pem message.eml
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

func main() {
	pubPath := flag.String("pub", "", "PEM public key (SPKI) of the signing key")
	flag.Parse()
	if *pubPath == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: dkimcheck -pub key.pub.pem message.eml")
		os.Exit(2)
	}
	if err := run(*pubPath, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "dkimcheck:", err)
		os.Exit(1)
	}
}

func run(pubPath, msgPath string) error {
	pemData, err := os.ReadFile(pubPath)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(pemData)
	if block == nil {
		return errors.New("no PEM block in " + pubPath)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return err
	}
	// The DNS record holds SPKI DER for RSA and the bare key for Ed25519.
	var kind, p string
	switch k := pub.(type) {
	case ed25519.PublicKey:
		kind, p = "ed25519", base64.StdEncoding.EncodeToString(k)
	default:
		kind, p = "rsa", base64.StdEncoding.EncodeToString(block.Bytes)
	}
	raw, err := os.ReadFile(msgPath)
	if err != nil {
		return err
	}
	record := fmt.Sprintf("v=DKIM1; k=%s; p=%s", kind, p)
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return []string{record}, nil },
	})
	if err != nil {
		return err
	}
	if len(verifs) == 0 {
		return errors.New("no DKIM-Signature header")
	}
	for _, v := range verifs {
		heads := make([]string, len(v.HeaderKeys))
		for i, h := range v.HeaderKeys {
			heads[i] = strings.ToLower(h)
		}
		status := "pass"
		if v.Err != nil {
			status = "FAIL: " + v.Err.Error()
		}
		fmt.Printf("DKIM d=%s: %s; signed: %s\n", v.Domain, status, strings.Join(heads, ":"))
		if v.Err != nil {
			return v.Err
		}
		for _, need := range []string{"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"} {
			if !slices.Contains(heads, need) {
				return fmt.Errorf("%s is not signed", need)
			}
		}
	}
	return nil
}

package inbound

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLSModes(t *testing.T) {
	for _, mode := range []string{"tls", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			cert, pool := selfSigned(t)
			srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
			mem := imapmemserver.New()
			user := imapmemserver.NewUser("list", "secret")
			if err := user.Create("INBOX", nil); err != nil {
				t.Fatal(err)
			}
			mem.AddUser(user)
			opts := &imapserver.Options{
				NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
					return mem.NewSession(), nil, nil
				},
				Caps:   imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
				Logger: quietLogger{},
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if mode == "tls" {
				ln = tls.NewListener(ln, srvTLS)
			} else {
				opts.Caps[imap.CapStartTLS] = struct{}{}
				opts.TLSConfig = srvTLS // LOGIN is refused until STARTTLS
			}
			srv := imapserver.New(opts)
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			e := newEnv(t, nil)
			e.imap = &imapTest{addr: ln.Addr().String(), user: user}
			o := e.options
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			o.Config.TLS = mode
			o.Config.Port = atoi(t, port)
			p, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			p.tlsConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			e.poller = p
			e.imap.deliver(t, mailFrom("reader@example.com", listAddr, "help", ""))
			if st := e.poll(t); st.Replied != 1 {
				t.Fatalf("stats = %+v, want one reply over %s", st, mode)
			}

			// Without trusting the certificate, the connection is refused.
			p2, _ := New(o)
			if _, err := p2.PollOnce(t.Context()); err == nil {
				t.Error("an untrusted certificate was accepted")
			}
		})
	}
}

package fetcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A feed on the public internet must not be able to read the intranet
// into the newsletter, by redirecting to http://127.0.0.1/ or
// http://169.254.169.254/, or by a DNS answer that changes between two
// lookups (DNS rebinding). The rule:
//
//   - A source whose configured URL names a private address (an IP
//     literal, or a name whose first answer is private: the operator's own
//     intranet feed) may reach private addresses, redirects included.
//   - Any other source reaches public addresses only. The check runs on
//     the address each connection is actually made to (a net.Dialer
//     Control hook, after DNS), so a redirect and a changed DNS answer are
//     caught alike.
//
// The two kinds of source use two transports, so a connection opened to a
// private address is never reused by a public source. Through a proxy
// (HTTP_PROXY and friends) the target's address is the proxy's business:
// connections to the proxy are allowed.

// RefusedError is a connection refused because it would reach a private
// address from a public source.
type RefusedError struct {
	Host string         // as named in the URL
	Addr netip.AddrPort // what it resolved to
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s (%s): a private address, reached from a public feed", e.Host, e.Addr.Addr())
}

// Public reports whether a is a public unicast address. Loopback,
// private (RFC 1918, fc00::/7), link-local, carrier-grade NAT
// (100.64.0.0/10), unspecified, multicast and reserved ranges are not.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64: may embed any IPv4 address
	netip.MustParsePrefix("fec0::/10"),
}

type ctxKey int

const requestKey ctxKey = 0

// request is the per-fetch state the transport and CheckRedirect share.
type request struct {
	private bool         // the source may reach private addresses
	hops    atomic.Int32 // redirects followed so far
}

func requestFrom(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey).(*request)
	if r == nil {
		return &request{}
	}
	return r
}

// guardedTransport sends a request over the transport its source may use.
type guardedTransport struct {
	public, private *http.Transport
}

func (g *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if requestFrom(req.Context()).private {
		return g.private.RoundTrip(req)
	}
	return g.public.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach both.
func (g *guardedTransport) CloseIdleConnections() {
	g.public.CloseIdleConnections()
	g.private.CloseIdleConnections()
}

// ClientOptions tunes NewClient.
type ClientOptions struct {
	// IdlePerHost is how many idle connections are kept per host.
	IdlePerHost int
	// MaxIdle is how many idle connections are kept in all, the least
	// recently used closed first; 0: DefaultMaxIdle. Each one holds two
	// goroutines and their buffers (some 30 KB) for as long as it stays.
	MaxIdle int
	// public classifies addresses; nil: Public. Tests use it to play a
	// public server on loopback.
	public func(netip.AddrPort) bool
}

// DefaultMaxIdle is ClientOptions.MaxIdle's default.
const DefaultMaxIdle = 200

// NewClient returns the client Fetch uses by default: bounded dial, TLS
// and header waits (the whole request is bounded by the source's context),
// at most 5 redirects, and the private-address guard described above.
func NewClient(o ClientOptions) *http.Client {
	isPublic := o.public
	if isPublic == nil {
		isPublic = defaultPublic
	}
	var proxies sync.Map // "host:port" of the proxies in use
	proxy := func(req *http.Request) (*url.URL, error) {
		u, err := http.ProxyFromEnvironment(req)
		if u != nil {
			proxies.Store(canonicalAddr(u), true)
		}
		return u, err
	}
	open := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	guarded := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		ControlContext: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !isPublic(ap) {
				return &RefusedError{Host: dialHost(ctx), Addr: ap}
			}
			return nil
		}}
	dialPublic := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, ok := proxies.Load(addr); ok {
			return open.DialContext(ctx, network, addr)
		}
		host, _, _ := net.SplitHostPort(addr)
		return guarded.DialContext(context.WithValue(ctx, dialHostKey, host), network, addr)
	}
	newTransport := func(dial func(context.Context, string, string) (net.Conn, error)) *http.Transport {
		return &http.Transport{
			Proxy:                 proxy,
			DialContext:           dial,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          cmp.Or(o.MaxIdle, DefaultMaxIdle),
			MaxIdleConnsPerHost:   max(o.IdlePerHost, 2),
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	return &http.Client{
		Transport: &guardedTransport{public: newTransport(dialPublic), private: newTransport(open.DialContext)},
		Timeout:   2 * time.Minute, // a backstop; the per-source context is the real bound
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			requestFrom(req.Context()).hops.Store(int32(len(via)))
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return nil
		},
	}
}

const dialHostKey ctxKey = 1

func dialHost(ctx context.Context) string {
	h, _ := ctx.Value(dialHostKey).(string)
	return h
}

// canonicalAddr is "host:port" of a URL, with the scheme's default port,
// as the transport passes it to DialContext.
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// configuredPrivate reports whether a configured URL names an IP literal
// outside the public internet.
func configuredPrivate(u *url.URL, isPublic func(netip.AddrPort) bool) bool {
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return false
	}
	port, _ := strconv.ParseUint(u.Port(), 10, 16)
	return !isPublic(netip.AddrPortFrom(a, uint16(port)))
}

func defaultPublic(ap netip.AddrPort) bool { return Public(ap.Addr()) }

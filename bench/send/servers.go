package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

// server is an SMTP server the runs send to.
type server struct {
	name, about string
	host        string
	port        int
	accepted    func() int // messages accepted so far; nil when unknown
	close       func()
}

func (s *server) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

func (s *server) describe() string { return s.name + ": " + s.about }

// via is the same server reached through a proxy.
func (s *server) via(p *proxy) *server {
	c := *s
	c.name = s.name + " behind the delay proxy"
	c.host, c.port = p.host, p.port
	c.close = func() {}
	return &c
}

// server starts (once) the server called name.
func (b *bench) server(name string) (*server, error) {
	if s, ok := b.servers[name]; ok {
		return s, nil
	}
	var s *server
	var err error
	switch name {
	case "sink":
		s, err = startSink(false)
	case "sink-nopipe":
		s, err = startSink(true)
	case "gosmtp":
		var srv *smtptest.Server
		srv, err = smtptest.Listen("127.0.0.1:0", smtptest.WithDiscard())
		if err == nil {
			s = &server{name: "go-smtp", about: "the in-process go-smtp server (internal/smtptest, discarding), PIPELINING offered",
				host: srv.Host, port: srv.Port, accepted: srv.Len, close: srv.Close}
		}
	default:
		return nil, fmt.Errorf("unknown server %q (sink, sink-nopipe, gosmtp)", name)
	}
	if err != nil {
		return nil, err
	}
	b.servers[name] = s
	return s, nil
}

// startSink runs Postfix's smtp-sink on a free loopback port.
func startSink(noPipelining bool) (*server, error) {
	path, err := exec.LookPath("smtp-sink")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/smtp-sink"); serr != nil {
			return nil, errors.New("Postfix's smtp-sink is not installed (Debian package postfix): rows skipped")
		}
		path = "/usr/sbin/smtp-sink"
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var args []string
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // smtp-sink refuses to run as root
	}
	about := "Postfix's smtp-sink (" + path + "), PIPELINING offered"
	name := "smtp-sink"
	if noPipelining {
		args = append(args, "-p")
		about = "Postfix's smtp-sink -p (" + path + "), PIPELINING not offered"
		name = "smtp-sink -p"
	}
	args = append(args, "-m", "512", "127.0.0.1:"+strconv.Itoa(port), "512")
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("smtp-sink: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-done
	}
	// Wait until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("smtp-sink exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("smtp-sink does not answer on port %d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &server{name: name, about: about, host: "127.0.0.1", port: port, close: stop}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proxy forwards TCP connections to an upstream address, holding every
// chunk it reads for a fixed delay before writing it on, in each direction.
// Chunks are queued, not slept on one by one, so several chunks are in
// flight at once like bytes on a long link, and what one write put on the
// wire together arrives together.
type proxy struct {
	host string
	port int
	ln   net.Listener
	wg   sync.WaitGroup
}

func startProxy(upstream string, delay time.Duration) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := ln.Addr().(*net.TCPAddr)
	p := &proxy{host: a.IP.String(), port: a.Port, ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			go func() {
				var both sync.WaitGroup
				both.Add(2)
				go func() { defer both.Done(); pump(u, c, delay) }()
				go func() { defer both.Done(); pump(c, u, delay) }()
				both.Wait()
				_ = c.Close()
				_ = u.Close()
			}()
		}
	}()
	return p, nil
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.wg.Wait()
}

type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst, each chunk delay late. When src ends, dst's
// write side is closed once the chunks before the end have arrived; when
// dst fails, src is closed so the session ends.
func pump(dst, src net.Conn, delay time.Duration) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		// One read buffer, each chunk copied at its size: a fresh 64 KB
		// per read made the proxy's garbage, at hundreds of messages a
		// second, cost the senders CPU on a 2-core machine.
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{data: bytes.Clone(buf[:n]), due: time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.data); err != nil {
			_ = src.Close()
			for range q {
			}
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

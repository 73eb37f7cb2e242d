package mailer

import (
	"context"
	"errors"
	"net"
	"net/textproto"
)

// session is what the server offered on a connection, read once after
// EHLO.
type session struct {
	// pipelining: the server takes MAIL, RCPT and DATA in one flight
	// (RFC 2920).
	pipelining bool
	// mailParams are added to MAIL FROM as go-mail's client adds them, so
	// both paths send the same commands.
	mailParams string
}

func newSession(c interface{ Extension(string) (bool, string) }) session {
	var s session
	s.pipelining, _ = c.Extension("PIPELINING")
	if ok, _ := c.Extension("8BITMIME"); ok {
		s.mailParams += " BODY=8BITMIME"
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		s.mailParams += " SMTPUTF8"
	}
	return s
}

// sendOnce runs one SMTP transaction, dialling first if needed.
func (w *worker) sendOnce(ctx context.Context, env envelope, data []byte) *SendError {
	if w.conn != nil && w.m.opts.MaxPerConnection > 0 && w.sent >= w.m.opts.MaxPerConnection {
		w.quit()
	}
	reused := w.conn != nil
	if !reused {
		if err := w.dial(ctx); err != nil {
			return err
		}
	}
	se := w.transaction(env, data)
	if se != nil && reused && stale(se) {
		// The server closed a connection we kept open (idle timeout, or
		// "421 too many messages"): nothing of this message was taken, so
		// try once more on a fresh connection before counting a failure.
		w.drop()
		if err := w.dial(ctx); err != nil {
			return err
		}
		se = w.transaction(env, data)
	}
	if se == nil {
		// No RSET: RFC 5321 lets the next MAIL start a new transaction.
		w.sent++
		return nil
	}
	if se.Op == "mail" && se.Code >= 500 {
		// A refused sender is not the recipient's fault and will refuse
		// every message: stop the run, blame no address.
		se.Temporary = true
		w.run.setFatal(se)
		w.m.log.Error("mailer: server refuses the sender; stopping", "from", env.from, "err", se)
	}
	if brokenConn(se) {
		w.drop()
		return se
	}
	// The transaction failed but the connection works: clear its state.
	if err := w.deadline(); err != nil || w.conn.Reset() != nil {
		w.drop()
	}
	return se
}

// stale reports a failure before the server took anything of the message,
// on a connection it had already closed or was closing.
func stale(se *SendError) bool {
	switch se.Op {
	case "mail", "rcpt", "data":
		return se.Code == 0 || se.Code == 421
	}
	return false
}

// deadline gives the next command or reply Timeout from now. go-mail sets
// one deadline at dial and leaves it (its WithoutRset then makes
// Timeout a budget for the whole session), so every step sets its own.
func (w *worker) deadline() error { return w.conn.UpdateDeadline(w.m.opts.Timeout) }

// endOfData ends the message data (RFC 5321 4.1.1.4); the message before
// it ends with a line break.
const endOfData = ".\r\n"

// transaction sends one message on the open connection; data ends with
// endOfData.
func (w *worker) transaction(env envelope, data []byte) *SendError {
	if w.sess.pipelining {
		return w.pipelined(env, data)
	}
	return w.stepwise(env, data)
}

// stepwise is the transaction without PIPELINING: go-mail's client sends
// each command and waits for its reply.
func (w *worker) stepwise(env envelope, data []byte) *SendError {
	c := w.conn
	if err := w.deadline(); err != nil {
		return classify("mail", err)
	}
	if err := c.Mail("<" + env.from + ">"); err != nil {
		return classify("mail", err)
	}
	if err := w.deadline(); err != nil {
		return classify("rcpt", err)
	}
	if err := c.Rcpt("<" + env.to + ">"); err != nil {
		return classify("rcpt", err)
	}
	if err := w.deadline(); err != nil {
		return classify("data", err)
	}
	wc, err := c.Data()
	if err != nil {
		return classify("data", err)
	}
	if err := w.deadline(); err != nil {
		return classify("data", err)
	}
	// go-mail's writer dot-stuffs and writes the end-of-data mark itself.
	if _, err := wc.Write(data[:len(data)-len(endOfData)]); err != nil {
		_ = wc.Close()
		return classify("data", err)
	}
	if err := w.deadline(); err != nil {
		return classify("close", err)
	}
	if err := wc.Close(); err != nil {
		return classify("close", err)
	}
	return nil
}

// pipelined sends MAIL, RCPT and DATA in one flight and reads the three
// replies in order (RFC 2920 section 3.1: every reply is checked). Only
// after a 354 to DATA, and only when MAIL and RCPT were accepted, does the
// message follow, with the end-of-data mark, in a second flight.
func (w *worker) pipelined(env envelope, data []byte) *SendError {
	if err := w.deadline(); err != nil {
		return classify("mail", err)
	}
	bw := w.conn.Text.W
	bw.WriteString("MAIL FROM:<")
	bw.WriteString(env.from)
	bw.WriteString(">")
	bw.WriteString(w.sess.mailParams)
	bw.WriteString("\r\nRCPT TO:<")
	bw.WriteString(env.to)
	bw.WriteString(">\r\nDATA\r\n")
	if err := bw.Flush(); err != nil {
		return classify("mail", err)
	}
	if se := w.replies(); se != nil {
		return se
	}
	return w.data(data)
}

// replies reads the replies to a pipelined MAIL, RCPT and DATA. A lost
// connection ends the reading; the failure reported is that of the first
// command that went wrong.
func (w *worker) replies() *SendError {
	t := w.conn.Text
	var failed *SendError
	for _, step := range [...]struct {
		op     string
		expect int
	}{{"mail", 250}, {"rcpt", 25}, {"data", 354}} {
		if err := w.deadline(); err != nil {
			return first(failed, classify(step.op, err))
		}
		_, _, err := t.ReadResponse(step.expect)
		switch {
		case err == nil:
			continue
		case !isReply(err):
			return first(failed, classify(step.op, err))
		case failed == nil:
			failed = classify(step.op, err)
		}
		if step.op == "data" {
			// DATA refused as well: nothing more to send (the caller
			// clears the transaction with RSET).
			return failed
		}
	}
	if failed == nil {
		return nil
	}
	// MAIL or RCPT was refused but the server still said 354 to DATA:
	// RFC 2920 asks for an empty message, which it must refuse or deliver
	// to nobody.
	if err := w.deadline(); err != nil {
		return failed
	}
	t.W.WriteString(endOfData)
	if err := t.W.Flush(); err != nil {
		return first(failed, classify("close", err))
	}
	if _, _, err := t.ReadResponse(250); err != nil && !isReply(err) {
		return first(failed, classify("close", err))
	}
	return failed
}

// data writes the message and the end-of-data mark in one write, after a
// 354, and reads the server's verdict. data needs no dot-stuffing: no line
// of what compose writes starts with a dot.
func (w *worker) data(data []byte) *SendError {
	bw := w.conn.Text.W
	if err := w.deadline(); err != nil {
		return classify("data", err)
	}
	// A failed write left the mark, the last bytes, unwritten: the server
	// cannot have taken the message. Once it is written the server may
	// have, and a failure before its reply is ambiguous ("close").
	if _, err := bw.Write(data); err != nil {
		return classify("data", err)
	}
	if err := bw.Flush(); err != nil {
		return classify("data", err)
	}
	if err := w.deadline(); err != nil {
		return classify("close", err)
	}
	if _, _, err := w.conn.Text.ReadResponse(250); err != nil {
		return classify("close", err)
	}
	return nil
}

// first keeps the earlier failure; a later network error still marks the
// connection as broken.
func first(earlier, later *SendError) *SendError {
	if earlier == nil {
		return later
	}
	if later != nil && brokenConn(later) && !brokenConn(earlier) {
		earlier.broken = true
	}
	return earlier
}

// isReply reports whether err is a reply from the server (the connection
// still works), not a network failure.
func isReply(err error) bool {
	var tp *textproto.Error
	return errors.As(err, &tp)
}

// quit ends the session politely (after MaxPerConnection).
func (w *worker) quit() {
	if w.conn == nil {
		return
	}
	_ = w.deadline()
	if err := w.conn.Quit(); err != nil {
		_ = w.conn.Close()
	}
	w.conn = nil
}

// drop closes a connection that is no longer usable.
func (w *worker) drop() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

func (w *worker) close() { w.quit() }

// brokenConn reports whether the connection cannot be used after se.
func brokenConn(se *SendError) bool {
	if se.broken || se.Code == 0 || se.Code == 421 {
		return true
	}
	var ne net.Error
	return errors.As(se.Err, &ne)
}

package mailer

import "context"

// Probe asks the server whether it takes mail from `from` to `to` right
// now, without sending any: MAIL FROM and RCPT TO on a connection of its
// own, then RSET and QUIT. The delivery engine probes with an address the
// issue already reached to tell a relay that refuses everyone (the probe
// is refused too) from recipients whose own servers refuse us (the probe
// passes). The error is a *SendError classified like Deliver's.
func (m *Mailer) Probe(ctx context.Context, from, to string) error {
	w := m.newWorker(&runState{})
	defer w.close()
	if se := w.dial(ctx); se != nil {
		return se
	}
	c := w.conn
	if err := c.UpdateDeadline(m.opts.Timeout); err != nil {
		return classify("mail", err)
	}
	if err := c.Mail("<" + from + ">"); err != nil {
		return classify("mail", err)
	}
	if err := c.Rcpt("<" + to + ">"); err != nil {
		return classify("rcpt", err)
	}
	if err := c.Reset(); err != nil {
		w.drop()
	}
	return nil
}

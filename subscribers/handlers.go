package subscribers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
)

func (h *web) home(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "subscribe", h.subscribeForm("", "", nil, ""))
}

func (h *web) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	secs := max(1, int(retry.Round(time.Second)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.message(w, r, http.StatusTooManyRequests, "Too many attempts",
		[]string{"Please wait a little and try again. If you already subscribed, the confirmation email is on its way: check your inbox and spam folder."})
}

// subscribe answers the same thank-you page, after the same work, for new,
// pending and confirmed addresses and for a filled honeypot, and no sooner
// than the answer floor after the request came in, so neither the page nor
// its timing tells who is on the list. The only 429 is the per-IP throttle,
// which is about the client, not the address.
func (h *web) subscribe(w http.ResponseWriter, r *http.Request) {
	floor := time.Now().Add(h.s.answerFloor)
	ip := h.clientIP(r)
	if ok, retry := h.s.perIP.allow(r.Context(), throttleKey(ip), h.s.now()); !ok {
		h.tooMany(w, r, retry)
		return
	}
	if err := parseForm(r); err != nil {
		h.badForm(w, r, err)
		return
	}
	f := r.PostForm
	if strings.TrimSpace(f.Get(honeypotField)) != "" {
		h.s.log.InfoContext(r.Context(), "subscribe: honeypot filled, ignored", "ip", ip)
		waitUntil(r.Context(), floor)
		h.thanks(w, r)
		return
	}
	req := SubscribeRequest{
		Email: f.Get("email"), Name: f.Get("name"), Topics: f["topics"], Edition: f.Get("edition"),
		IP: ip, UserAgent: r.UserAgent(), Form: FormWeb,
	}
	err := h.s.Subscribe(r.Context(), req)
	waitUntil(r.Context(), floor)
	var ae *AddressError
	switch {
	case err == nil:
		h.thanks(w, r)
	case errors.As(err, &ae):
		// Refill single-line fields without the control characters that
		// made the address bad.
		p := h.subscribeForm(oneLine(req.Email), cleanName(req.Name), req.Topics, req.Edition)
		// The reason, not the input: the input is refilled in the field.
		p.Error, p.Heading = reasonSentence(ae.Reason), "Check your address"
		h.render(w, r, http.StatusBadRequest, "subscribe", p)
	default:
		h.serverError(w, r, "subscribe", err)
	}
}

func (h *web) thanks(w http.ResponseWriter, r *http.Request) {
	hours := int(h.s.srv.ConfirmTTL.Round(time.Hour) / time.Hour)
	h.message(w, r, http.StatusOK, "Check your inbox", []string{
		"Thank you! If this address is not yet on the list, we are sending it an email with a link to confirm your subscription.",
		fmt.Sprintf("The link works for %d hours. Nothing more is sent until you click it. No email after a few minutes? Check your spam folder.", hours),
	})
}

// tokenError answers a bad link with a 4xx page; nothing has changed.
func (h *web) tokenError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, links.ErrTokenExpired):
		h.message(w, r, http.StatusGone, "This link has expired",
			[]string{"Links in our emails stop working after a while. Please subscribe again to get a fresh one."},
			link{URL: links.Relative(links.Home, ""), Text: "Subscribe to " + h.s.nl.Title})
	case errors.Is(err, links.ErrTokenInvalid), errors.Is(err, ErrStaleLink):
		h.message(w, r, http.StatusBadRequest, "This link is not valid",
			[]string{"It may have been cut off or changed, replaced by a newer one, or made for a subscription that no longer exists. Please use the latest link we sent you."},
			link{URL: links.Relative(links.Home, ""), Text: "Go to " + h.s.nl.Title})
	default:
		h.serverError(w, r, "token link", err)
	}
}

// formToken is the token of a POST: in the query (links in emails) or in
// the form (the pages' buttons).
func formToken(r *http.Request) string {
	if tok := r.URL.Query().Get("token"); tok != "" {
		return tok
	}
	if r.PostForm != nil {
		return r.PostForm.Get("token")
	}
	return ""
}

// confirmPage shows one Confirm button (GET and HEAD): mail scanners and
// link checkers open every link, so opening one confirms nothing.
func (h *web) confirmPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	sub, err := h.s.ConfirmPage(r.Context(), tok)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	if sub.Status == store.StatusConfirmed {
		h.subscribed(w, r, sub, false)
		return
	}
	p := h.base("Confirm your subscription")
	p.Token, p.Masked = tok, maskAddress(sub.Email)
	h.render(w, r, http.StatusOK, "confirm", p)
}

// confirm is the page's button: it confirms.
func (h *web) confirm(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil && isTooLarge(err) {
		h.tooLarge(w, r)
		return
	}
	before, err := h.s.Subscriber(r.Context(), formToken(r), links.PurposeConfirm)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	sub, err := h.s.Confirm(r.Context(), formToken(r), h.clientIP(r), r.UserAgent())
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	h.subscribed(w, r, sub, before.Status != store.StatusConfirmed && h.s.welcome != nil)
}

// subscribed is the page after a confirmation.
func (h *web) subscribed(w http.ResponseWriter, r *http.Request, sub store.Subscriber, welcome bool) {
	paras := []string{"Thank you for confirming. The next issue of " + h.s.nl.Title + " will reach your inbox."}
	if welcome {
		paras = append(paras, "To start with, we are sending you the latest issue.")
	}
	paras = append(paras, "Every issue has a link to change your topics or to unsubscribe with one click.")
	prefs := h.s.links.Token(links.PurposePreferences, links.Subject{ID: sub.ID, Stamp: sub.Stamp}, time.Time{})
	h.message(w, r, http.StatusOK, "You're subscribed", paras,
		link{URL: links.Relative(links.Preferences, prefs), Text: "Choose topics and edition"})
}

func (h *web) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	sub, err := h.s.Subscriber(r.Context(), tok, links.PurposeUnsubscribe)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	p := h.base("Unsubscribe")
	p.Token = tok
	p.PrefsToken = h.s.links.Token(links.PurposePreferences, links.Subject{ID: sub.ID, Stamp: sub.Stamp}, time.Time{})
	p.Masked, p.Unsubscribed = maskAddress(sub.Email), sub.Status == store.StatusUnsubscribed
	h.render(w, r, http.StatusOK, "unsubscribe", p)
}

// unsubscribe is both the page's button and RFC 8058 one-click: the token
// in the URL is the only authority, the body (List-Unsubscribe=One-Click,
// urlencoded or multipart, or nothing) is not required, and the answer is
// a plain 200 with no redirect and no cookie.
func (h *web) unsubscribe(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil && isTooLarge(err) {
		h.tooLarge(w, r)
		return
	}
	// A malformed body does not stop an unsubscribe: the token decides.
	id, err := h.s.VerifyLink(r.Context(), formToken(r), links.PurposeUnsubscribe)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	form := FormWeb
	if r.PostForm != nil && r.PostForm.Get("List-Unsubscribe") == "One-Click" {
		form = FormOneClick
	}
	if err := h.s.Unsubscribe(r.Context(), id, h.clientIP(r), r.UserAgent(), form); err != nil {
		h.serverError(w, r, "unsubscribe", err)
		return
	}
	h.message(w, r, http.StatusOK, "You're unsubscribed", []string{
		"You will not receive " + h.s.nl.Title + " any more.",
	}, link{URL: links.Relative(links.Home, ""), Text: "Changed your mind? Subscribe again"})
}

// Preferences accept the preferences token and the unsubscribe token, so
// any link from a digest leads here.
var prefPurposes = []links.Purpose{links.PurposePreferences, links.PurposeUnsubscribe}

func (h *web) preferencesPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	sub, err := h.s.Subscriber(r.Context(), tok, prefPurposes...)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "preferences", h.prefsPage(sub, tok, false))
}

func (h *web) prefsPage(sub store.Subscriber, tok string, saved bool) page {
	p := h.base("Preferences")
	p.Token = tok
	p.UnsubToken = h.s.links.Token(links.PurposeUnsubscribe, links.Subject{ID: sub.ID, Stamp: sub.Stamp}, time.Time{})
	p.Masked, p.Saved = maskAddress(sub.Email), saved
	p.Unsubscribed = sub.Status == store.StatusUnsubscribed || sub.Status == store.StatusBounced
	p.Topics, p.Editions = h.topicChoices(sub.Topics), h.editionChoices(sub.Edition)
	return p
}

func (h *web) savePreferences(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		h.badForm(w, r, err)
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	sub, err := h.s.Subscriber(r.Context(), tok, prefPurposes...)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	sub, err = h.s.SetPreferences(r.Context(), sub.ID, r.PostForm["topics"], r.PostForm.Get("edition"), h.clientIP(r), r.UserAgent())
	if err != nil {
		h.serverError(w, r, "preferences", err)
		return
	}
	h.render(w, r, http.StatusOK, "preferences", h.prefsPage(sub, tok, true))
}

// waitUntil returns at t, or when ctx is done (the client went away).
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

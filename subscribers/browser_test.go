package subscribers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/internal/testenv"
	"github.com/digest-newsletter/digest/links"
)

// TestBrowserSubscribe drives the subscribe page in headless Chromium at a
// phone width and a desktop width, as a visitor would, and keeps
// screenshots in $DIGEST_SCREENSHOTS (default: a temporary folder).
func TestBrowserSubscribe(t *testing.T) {
	if testing.Short() {
		t.Skip("real-browser test skipped in -short mode")
	}
	bin := testenv.Need(t, "chromium")
	shots := os.Getenv("DIGEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newWebEnv(t, func(o *ServiceOptions) { o.Server.RatePerIP = 100 })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}

	shoot := func(t *testing.T, tab context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", p)
	}
	noOverflow := func(t *testing.T, tab context.Context, what string) {
		t.Helper()
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
		if err != nil || !ok {
			t.Fatalf("%s scrolls sideways (%v)", what, err)
		}
	}

	for _, width := range []int64{375, 1280} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
			tab, closeTab := chromedp.NewContext(browser)
			defer closeTab()
			email := fmt.Sprintf("reader%d@example.org", width)
			if err := chromedp.Do(tab,
				chromedp.EmulateViewport(width, 860),
				chromedp.Navigate(e.srv.URL+"/"),
				chromedp.WaitVisible(chromedp.ID("email")),
			); err != nil {
				t.Fatal(err)
			}
			noOverflow(t, tab, "subscribe page")
			shoot(t, tab, fmt.Sprintf("subscribe-%d", width))

			// A bad address first: the reason is shown and the field has focus.
			if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.ID("email"), "not-an-address")); err != nil {
				t.Fatal(err)
			}
			resp, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`button[type=submit]`)))
			if err != nil || resp.Status != 400 {
				t.Fatalf("bad address: %v %v", resp, err)
			}
			// Autofocus runs a moment after load: poll the page, with a deadline.
			var focused string
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && focused != "email"; {
				focused, err = chromedp.Run(tab, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
				if err != nil {
					break
				}
			}
			if err != nil || focused != "email" {
				t.Fatalf("focus after an error is on %q (%v), want the email field", focused, err)
			}
			noOverflow(t, tab, "error page")
			shoot(t, tab, fmt.Sprintf("subscribe-error-%d", width))

			if err := chromedp.Do(tab,
				chromedp.Clear(chromedp.ID("email")),
				chromedp.SendKeys(chromedp.ID("email"), email),
				chromedp.SendKeys(chromedp.ID("name"), "Ann Reader"),
				chromedp.Click(chromedp.ID("topic-1")),   // untick Economy
				chromedp.Click(chromedp.ID("edition-1")), // daily
			); err != nil {
				t.Fatal(err)
			}
			shoot(t, tab, fmt.Sprintf("subscribe-filled-%d", width))
			resp, err = chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`button[type=submit]`)))
			if err != nil || resp.Status != 200 {
				t.Fatalf("submit: %v %v", resp, err)
			}
			heading, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("main h1")))
			if err != nil || heading != "Check your inbox" {
				t.Fatalf("thank-you page heading %q (%v)", heading, err)
			}
			noOverflow(t, tab, "thank-you page")
			shoot(t, tab, fmt.Sprintf("thanks-%d", width))

			s := e.subscriber(email)
			if s.Status != store.StatusPending || s.Name != "Ann Reader" || s.Edition != "daily" ||
				!slices.Equal(s.Topics, []string{"Security", "Culture"}) {
				t.Fatalf("stored %+v", s)
			}
			e.flush()
			if n := e.smtp.Count(email); n != 1 {
				t.Fatalf("%d confirmation mails", n)
			}
			var tok string
			for _, m := range e.smtp.Messages() {
				if m.To[0] == email {
					tok = confirmToken(t, m.Data)
				}
			}

			// The link from the email: a page with one button, nothing done yet.
			if err := chromedp.Do(tab,
				chromedp.Navigate(e.srv.URL+"/confirm?token="+tok),
				chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)),
			); err != nil {
				t.Fatal(err)
			}
			buttons, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("button").length`))
			if err != nil || buttons != 1 {
				t.Fatalf("confirm page has %d buttons (%v), want 1", buttons, err)
			}
			noOverflow(t, tab, "confirm page")
			shoot(t, tab, fmt.Sprintf("confirm-%d", width))
			if s := e.subscriber(email); s.Status != store.StatusPending {
				t.Fatalf("opening the confirm link changed the status to %s", s.Status)
			}
			resp, err = chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`button[type=submit]`)))
			if err != nil || resp.Status != 200 {
				t.Fatalf("confirm button: %v %v", resp, err)
			}
			heading, err = chromedp.Run(tab, chromedp.Text(chromedp.CSS("main h1")))
			if err != nil || heading != "You're subscribed" {
				t.Fatalf("after Confirm: heading %q (%v)", heading, err)
			}
			noOverflow(t, tab, "subscribed page")
			shoot(t, tab, fmt.Sprintf("confirmed-%d", width))
			if s := e.subscriber(email); s.Status != store.StatusConfirmed {
				t.Fatalf("after the button: %s", s.Status)
			}
			s = e.subscriber(email)

			// The pages behind the links in every digest.
			if err := chromedp.Do(tab,
				chromedp.Navigate(e.srv.URL+"/preferences?token="+e.sign(links.PurposePreferences, s)),
				chromedp.WaitVisible(chromedp.ID("topic-0")),
			); err != nil {
				t.Fatal(err)
			}
			noOverflow(t, tab, "preferences page")
			shoot(t, tab, fmt.Sprintf("preferences-%d", width))
			if err := chromedp.Do(tab,
				chromedp.Navigate(e.srv.URL+"/unsubscribe?token="+e.sign(links.PurposeUnsubscribe, s)),
				chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)),
			); err != nil {
				t.Fatal(err)
			}
			shoot(t, tab, fmt.Sprintf("unsubscribe-%d", width))
			resp, err = chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`button[type=submit]`)))
			if err != nil || resp.Status != 200 {
				t.Fatalf("unsubscribe button: %v %v", resp, err)
			}
			shoot(t, tab, fmt.Sprintf("unsubscribed-%d", width))
			if s := e.subscriber(email); s.Status != store.StatusUnsubscribed {
				t.Fatalf("after the button: %s", s.Status)
			}
		})
	}
}

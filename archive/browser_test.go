package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/digest-newsletter/digest/internal/testenv"
)

// TestBrowserArchive opens an issue page and the list in headless Chromium
// at a phone and a desktop width, in the light and the dark scheme, checks
// that nothing scrolls sideways and that the dark scheme is dark, and
// keeps screenshots in $DIGEST_SCREENSHOTS (default: a temporary folder).
func TestBrowserArchive(t *testing.T) {
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
	f := newFixture(t, nil)
	f.addIssue(t, 0, "weekly", true)
	is := f.addIssue(t, 1, "weekly", true)
	srv := f.server(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}

	pages := map[string]string{"issue": fmt.Sprintf("%s/archive/%d", srv.URL, is.ID), "list": srv.URL + "/archive"}
	for _, scheme := range []string{"light", "dark"} {
		for _, width := range []int64{375, 1280} {
			for name, url := range pages {
				t.Run(fmt.Sprintf("%s-%s-%d", name, scheme, width), func(t *testing.T) {
					tab, closeTab := chromedp.NewContext(browser)
					defer closeTab()
					if err := chromedp.Do(tab,
						chromedp.EmulateViewport(width, 900),
						colorScheme(scheme),
						chromedp.Navigate(url),
						chromedp.WaitVisible(chromedp.CSS("h1")),
					); err != nil {
						t.Fatal(err)
					}
					ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
					if err != nil || !ok {
						t.Errorf("the page scrolls sideways (%v)", err)
					}
					// The body's background: light grey by day, near black by night.
					bg, err := chromedp.Run(tab, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
					if err != nil {
						t.Fatal(err)
					}
					want := map[string]string{"light": "rgb(243, 244, 246)", "dark": "rgb(13, 17, 23)"}[scheme]
					if bg != want {
						t.Errorf("%s scheme: body background %s, want %s", scheme, bg, want)
					}
					png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
					if err != nil {
						t.Fatal(err)
					}
					p := filepath.Join(shots, fmt.Sprintf("archive-%s-%s-%d.png", name, scheme, width))
					if err := os.WriteFile(p, png, 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("screenshot %s", p)
				})
			}
		}
	}
}

// colorScheme makes the tab report prefers-color-scheme: scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

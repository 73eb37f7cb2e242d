package archive

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
)

var t0 = time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)

// reader is the subscriber every issue went to: nothing of them may show.
var reader = store.Subscriber{Email: "ana.lima@example.org", Name: "Ana Lima", Status: store.StatusConfirmed}

// countingRenderer counts page renders.
type countingRenderer struct {
	*render.Renderer
	pages atomic.Int32
}

func (c *countingRenderer) RenderPage(d *digest.Digest, l render.PageLinks) (*render.Page, error) {
	c.pages.Add(1)
	return c.Renderer.RenderPage(d, l)
}

type fixture struct {
	db     *store.DB
	r      *countingRenderer
	a      *Archive
	issues []store.Issue // in creation order
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.AddSubscriber(ctx, reader); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Newsletter.Title = "The Region Brief"
	c.Newsletter.Description = "What happened in the region this week."
	c.Newsletter.BaseURL = "https://news.example.org"
	c.Newsletter.PostalAddress = "1 Example Street, 10115 City"
	c.Newsletter.MaxPerTopic = 1 // the email cuts; the page must not
	rr, err := render.New(render.Options{Newsletter: c.Newsletter, Theme: c.Theme, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, r: &countingRenderer{Renderer: rr}}
	o := Options{
		Store: db, Renderer: f.r, Digest: delivery.FrozenDigest,
		BaseURL: c.Newsletter.BaseURL, Title: c.Newsletter.Title, Description: c.Newsletter.Description,
		PageSize: 20, FeedItems: 20,
	}
	if mod != nil {
		mod(&o)
	}
	if f.a, err = New(o); err != nil {
		t.Fatal(err)
	}
	return f
}

// issueDigest is issue n's content: two topics, an article without a URL.
func issueDigest(n int, edition string) *digest.Digest {
	at := t0.Add(time.Duration(n) * 24 * time.Hour)
	art := func(id, title, url string) digest.Article {
		return digest.Article{ID: id, Title: title, URL: url, Source: "Valley News", Published: at.Add(-time.Hour), Summary: "Summary of " + title + "."}
	}
	return &digest.Digest{
		Title: "The Region Brief", Edition: edition, From: at.Add(-24 * time.Hour), To: at,
		Topics: []digest.Topic{
			{Name: "Local", Articles: []digest.Article{
				art(edition+"l1", issueTitle(n, "River levels fall"), "https://valley.example/river"),
				art(edition+"l2", issueTitle(n, "Tram line budget approved"), "https://valley.example/tram"),
			}},
			{Name: "Notes", Articles: []digest.Article{
				art(edition+"n1", issueTitle(n, "Editor's note"), "file:///srv/notes/note.md"),
			}},
		},
	}
}

func issueTitle(n int, s string) string { return s + " (issue " + string(rune('A'+n)) + ")" }

// addIssue stores issue n as the sender freezes it; done marks it done,
// else it stays sending with every message queued.
func (f *fixture) addIssue(t *testing.T, n int, edition string, done bool) store.Issue {
	t.Helper()
	ctx := context.Background()
	d := issueDigest(n, edition)
	payload, err := json.Marshal(map[string]any{"digest": d, "rendered": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	is, err := f.db.CreateIssue(ctx, store.Issue{Edition: edition, Created: d.To, WindowFrom: d.From, WindowTo: d.To, Articles: d.Count(), Payload: payload}, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	if done {
		if err := f.db.FinishIssue(ctx, is.ID, d.To.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	f.issues = append(f.issues, is)
	return is
}

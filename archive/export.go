package archive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Export writes the archive to dir as static files: index.html (every
// issue, newest first), one {id}.html per issue, feed.atom and feed.json.
// Links between them are relative, so the folder works on any static host;
// what must be absolute (feed ids and links, og:url) is under root, the
// URL the folder will be served at ("" for {base_url}/archive). Pages are
// rendered afresh with the export's links, not taken from the server's
// cache. It returns the number of issues written.
func (a *Archive) Export(ctx context.Context, dir, root string) (int, error) {
	u := a.web.exported(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("archive: export: %w", err)
	}
	total, err := a.o.Store.CountArchivedIssues(ctx, "")
	if err != nil {
		return 0, err
	}
	var all []*Entry
	const batch = 50
	for off := 0; off < total; off += batch {
		issues, err := a.o.Store.ArchivedIssues(ctx, "", off, batch)
		if err != nil {
			return 0, err
		}
		for _, is := range issues {
			full, err := a.o.Store.ArchivedIssue(ctx, is.ID)
			if err != nil {
				return 0, err
			}
			e, err := a.render(full, u)
			if err != nil {
				return 0, err
			}
			if err := writeFile(dir, fmt.Sprintf("%d.html", e.ID), e.Page.HTML); err != nil {
				return 0, err
			}
			// Keep what the index and feeds need, not the page.
			p := *e.Page
			p.HTML = nil
			if len(all) >= a.o.FeedItems {
				p.Content = nil // past the feeds' reach
			}
			all = append(all, &Entry{Issue: e.Issue, Page: &p})
		}
	}
	var b bytes.Buffer
	if err := a.writeIndex(&b, u, all, "", nil, 1, 1); err != nil {
		return 0, err
	}
	if err := writeFile(dir, "index.html", b.Bytes()); err != nil {
		return 0, err
	}
	newest := all[:min(len(all), a.o.FeedItems)]
	b.Reset()
	if err := a.writeAtom(&b, newest, u); err != nil {
		return 0, err
	}
	if err := writeFile(dir, "feed.atom", b.Bytes()); err != nil {
		return 0, err
	}
	b.Reset()
	if err := a.writeJSON(&b, newest, u); err != nil {
		return 0, err
	}
	if err := writeFile(dir, "feed.json", b.Bytes()); err != nil {
		return 0, err
	}
	return len(all), nil
}

// writeFile writes through a temporary file and a rename, so a host
// serving dir never sees half a page.
func writeFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("archive: export: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("archive: export %s: %w", name, werr)
	}
	return nil
}

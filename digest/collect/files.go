package collect

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
)

// articleExts are the file kinds a folder source reads; anything else in
// the folder (images, notes, editor backups) is ignored.
var articleExts = map[string]bool{
	".md": true, ".markdown": true, ".txt": true, ".html": true, ".htm": true,
}

// collectDir reads every article file in src.Path and in its immediate
// subfolders. A file that cannot be read or parsed is reported as
// "<source>: <file>" and the others go on.
func collectDir(ctx context.Context, src config.Source, opts Options) ([]digest.Article, []digest.SourceError) {
	files, err := listArticleFiles(src.Path)
	if err != nil {
		return nil, []digest.SourceError{srcError(src.Name, fmt.Errorf("collect: source %q: %w", src.Name, err))}
	}
	var arts []digest.Article
	var errs []digest.SourceError
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			errs = append(errs, srcError(src.Name, fmt.Errorf("collect: source %q: stopped after %d of %d files: %w", src.Name, len(arts), len(files), err)))
			break
		}
		rel, _ := filepath.Rel(src.Path, path)
		a, err := readArticleFile(path, src, opts)
		if err != nil {
			name := src.Name + ": " + filepath.ToSlash(rel)
			errs = append(errs, srcError(name, fmt.Errorf("collect: source %q: file %s: %w", src.Name, filepath.ToSlash(rel), err)))
			continue
		}
		arts = append(arts, a)
	}
	return arts, errs
}

func listArticleFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("folder: %w", err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			// One level down is enough for "articles/2025-01/" layouts;
			// deeper trees are more likely to be something else.
			sub, err := os.ReadDir(p)
			if err != nil {
				continue
			}
			for _, s := range sub {
				if !s.IsDir() && !strings.HasPrefix(s.Name(), ".") && articleExts[strings.ToLower(filepath.Ext(s.Name()))] {
					files = append(files, filepath.Join(p, s.Name()))
				}
			}
			continue
		}
		if articleExts[strings.ToLower(filepath.Ext(e.Name()))] {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	return files, nil
}

func readArticleFile(path string, src config.Source, opts Options) (digest.Article, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return digest.Article{}, err
	}
	data, err := readFileCapped(path, src.MaxBytes)
	if err != nil {
		return digest.Article{}, err
	}
	return ParseArticleFile(path, data, fi.ModTime(), src, opts)
}

// ParseArticleFile parses one article file; name's extension picks the
// format (.md/.markdown, .txt, .html/.htm) and name gives the file:// URL
// used when the file names none. modTime is the date when the file has
// none. Source defaults to src.Name, SourceName is always src.Name.
func ParseArticleFile(name string, data []byte, modTime time.Time, src config.Source, opts Options) (digest.Article, error) {
	var (
		a   digest.Article
		err error
	)
	data = []byte(strings.ToValidUTF8(strings.TrimPrefix(string(data), "\uFEFF"), "\uFFFD"))
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".markdown":
		a, err = parseMarkdown(data)
	case ".txt":
		a, err = parseText(data)
	case ".html", ".htm":
		a, err = parseHTMLPage(data)
	default:
		return digest.Article{}, fmt.Errorf("unsupported file type %q", filepath.Ext(name))
	}
	if err != nil {
		return digest.Article{}, err
	}
	a.SourceName = src.Name
	if a.Source == "" {
		a.Source = src.Name
	}
	if a.Published.IsZero() {
		a.Published = modTime.UTC()
	}
	if a.Published.IsZero() {
		a.Published = opts.now()
	}
	if a.URL == "" {
		a.URL = fileURL(name)
	}
	if a.Title == "" && strings.TrimSpace(a.Body) == "" {
		return digest.Article{}, errors.New("empty article: no title and no text")
	}
	if a.Title == "" {
		a.Title = titleFromText(a.Body)
	}
	if a.Title == "" {
		a.Title = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	if a.Summary == "" {
		a.Summary = a.Body
	}
	a.Summary = truncate(collapseSpace(a.Summary), opts.summaryChars())
	if a.ImageURL != "" && !isHTTPURL(a.ImageURL) {
		a.ImageURL = ""
	}
	if a.GUID != "" {
		a.ID = a.GUID
	} else if c := canonicalURL(a.URL); c != "" {
		a.ID = c
	} else {
		a.ID = a.URL
	}
	return a, nil
}

func fileURL(name string) string {
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = name
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

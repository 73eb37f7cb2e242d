package collect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/articlefile"
	"github.com/digest-newsletter/digest/digest/collect/fetcher"
	"github.com/digest-newsletter/digest/internal/config"
)

// folderSource is a folder of article files: [[sources]] with a path. It
// reads the folder and its immediate subfolders ("articles/2025-01/");
// deeper trees are more likely to be something else.
//
// Only regular files are read. A symbolic link is followed only when it
// resolves to a file inside the folder: a link to /etc/shadow named
// "note.md" must not be mailed to the subscribers. Named pipes, devices
// and sockets are reported, never opened for reading.
type folderSource struct{}

func (folderSource) match(src config.Source) bool { return src.Path != "" }
func (folderSource) host(config.Source) string    { return "" }

// articleFile is one file to read: name is where it was found (it gives
// the article's file:// URL), path what is opened.
type articleFile struct {
	name, path string
}

// collect reads every article file. A file that cannot be read or parsed
// is reported as "<source>: <file>" and the others go on.
func (folderSource) collect(ctx context.Context, r *run, src config.Source) ([]digest.Article, []digest.SourceError) {
	files, errs, err := listArticleFiles(src.Path)
	if err != nil {
		return nil, []digest.SourceError{sourceError(src.Name, err)}
	}
	fileError := func(name string, err error) digest.SourceError {
		rel, _ := filepath.Rel(src.Path, name)
		rel = filepath.ToSlash(rel)
		return digest.SourceError{Source: src.Name + ": " + rel, Error: fmt.Sprintf("collect: source %q: file %s: %v", src.Name, rel, err)}
	}
	var out []digest.SourceError
	for _, e := range errs {
		out = append(out, fileError(e.name, e.err))
	}
	opts := articlefile.Options{SourceName: src.Name, SummaryChars: r.o.SummaryChars, TextBytes: r.o.TextBytes, Now: r.now}
	var arts []digest.Article
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			out = append(out, sourceError(src.Name, fmt.Errorf("stopped after %d of %d files: %w", i, len(files), err)))
			break
		}
		data, fi, err := fetcher.ReadFileNoFollow(ctx, f.path, src.MaxBytes)
		if err != nil {
			out = append(out, fileError(f.name, err))
			continue
		}
		a, err := articlefile.Parse(f.name, data, fi.ModTime(), opts)
		if err != nil {
			out = append(out, fileError(f.name, err))
			continue
		}
		arts = append(arts, a)
	}
	return newestArticles(arts, r.maxItems(src)), out
}

// newestArticles keeps the max newest articles.
func newestArticles(arts []digest.Article, max int) []digest.Article {
	if max <= 0 || len(arts) <= max {
		return arts
	}
	slices.SortStableFunc(arts, func(a, b digest.Article) int { return b.Published.Compare(a.Published) })
	return slices.Clip(arts[:max])
}

type refusedFile struct {
	name string
	err  error
}

// listArticleFiles lists the article files of dir and of its immediate
// subfolders, in name order, with the files it refuses to read.
func listArticleFiles(dir string) ([]articleFile, []refusedFile, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("folder: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("folder: %w", err)
	}
	var files []articleFile
	var refused []refusedFile
	add := func(p string, e fs.DirEntry) {
		if f, err := checkEntry(root, p, e); err != nil {
			refused = append(refused, refusedFile{p, err})
		} else {
			files = append(files, f)
		}
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() {
			sub, err := os.ReadDir(p)
			if err != nil {
				continue
			}
			for _, s := range sub {
				if !strings.HasPrefix(s.Name(), ".") && !s.IsDir() && articlefile.Supported(s.Name()) {
					add(filepath.Join(p, s.Name()), s)
				}
			}
			continue
		}
		if articlefile.Supported(e.Name()) {
			add(p, e)
		}
	}
	slices.SortFunc(files, func(a, b articleFile) int { return cmp.Compare(a.name, b.name) })
	return files, refused, nil
}

// errOutside is a symbolic link that leads out of the folder.
var errOutside = errors.New("a symbolic link to a file outside the folder: not read")

// checkEntry decides whether a directory entry is read, and from where.
func checkEntry(root, p string, e fs.DirEntry) (articleFile, error) {
	switch t := e.Type(); {
	case t.IsRegular():
		return articleFile{name: p, path: p}, nil
	case t&fs.ModeSymlink != 0:
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return articleFile{}, fmt.Errorf("symbolic link: %w", err)
		}
		if target, err = filepath.Abs(target); err != nil {
			return articleFile{}, err
		}
		if !inside(root, target) {
			return articleFile{}, errOutside
		}
		return articleFile{name: p, path: target}, nil
	default:
		return articleFile{}, &fetcher.NotRegularError{Mode: t}
	}
}

// inside reports whether path is root or below it.
func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

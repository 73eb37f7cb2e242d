package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// checkFiles checks what the config names on this machine: article
// folders, file:// feeds, the templates folder, the DKIM key and the
// store's folder. Only `digest config check` runs it: a send goes on when
// one source is missing and reports it by name.
func (c *Config) checkFiles(bad problemf) {
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources.%d", i)
		switch {
		case s.Path != "":
			needDir(bad, key+".path", c.Resolve(s.Path), "article folder")
		case s.URL != "":
			if u, err := url.Parse(s.URL); err == nil && u.Scheme == "file" {
				needFile(bad, key+".url", u.Path, "feed file")
			}
		}
	}
	if dir := c.Theme.TemplatesDir; dir != "" {
		needDir(bad, "theme.templates_dir", c.Resolve(dir), "templates folder")
	}
	if f := c.DKIM.PrivateKeyFile; f != "" {
		needFile(bad, "dkim.private_key_file", c.Resolve(f), "DKIM key")
	}
	if p := c.Store.Path; p != "" && !c.Store.Postgres() {
		needDir(bad, "store.path", filepath.Dir(c.Resolve(p)), "folder of the store")
	}
}

func needDir(bad problemf, key, path, what string) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		bad(key, "%s %s: %w", what, path, err)
	case !fi.IsDir():
		bad(key, "%s %s is not a folder", what, path)
	}
}

// needFile checks that path is a regular file this process can read. It
// stats before opening: opening a FIFO blocks.
func needFile(bad problemf, key, path, what string) {
	fi, err := os.Stat(path)
	if err != nil {
		bad(key, "%s: %w", what, err)
		return
	}
	if !fi.Mode().IsRegular() {
		bad(key, "%s %s is not a regular file", what, path)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		bad(key, "%s: %w", what, err)
		return
	}
	f.Close()
}

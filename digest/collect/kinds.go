package collect

import (
	"context"
	"errors"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
)

// kind is one kind of source. Adding a kind is adding a file that
// implements it and a line to kinds.
type kind interface {
	// match reports whether src is of this kind.
	match(src config.Source) bool
	// host names the server src is fetched from, for the per-host limit;
	// "" when there is none.
	host(src config.Source) string
	// collect gathers src's articles within ctx; errors are per source (or
	// per file of a folder), already named.
	collect(ctx context.Context, r *run, src config.Source) ([]digest.Article, []digest.SourceError)
}

var kinds = []kind{feedSource{}, folderSource{}}

func kindOf(src config.Source) kind {
	for _, k := range kinds {
		if k.match(src) {
			return k
		}
	}
	return unknownSource{}
}

// unknownSource is a source no kind matches.
type unknownSource struct{}

func (unknownSource) match(config.Source) bool  { return true }
func (unknownSource) host(config.Source) string { return "" }
func (unknownSource) collect(_ context.Context, _ *run, src config.Source) ([]digest.Article, []digest.SourceError) {
	return nil, []digest.SourceError{sourceError(src.Name, errors.New("neither url nor path is set"))}
}

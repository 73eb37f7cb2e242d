package delivery

import (
	"fmt"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/links"
)

// FrozenDigest returns the digest an issue froze in its payload: what its
// readers got, for the archive to render for everyone else.
func FrozenDigest(issuePayload []byte) (*digest.Digest, error) {
	p, err := decodePayload(issuePayload)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return p.Digest, nil
}

// issueURL is the issue's public page, "" when the archive is off, there
// is no issue yet (a dry run) or no links.
func issueURL(archive bool, lb *links.Builder, id int64) string {
	if !archive || lb == nil || id <= 0 {
		return ""
	}
	return lb.IssueURL(id)
}

// withListArchive adds the RFC 2369 List-Archive header (the archive's
// list page) to h when the archive is on.
func withListArchive(archive bool, lb *links.Builder, h map[string]string) map[string]string {
	if archive && lb != nil {
		h["List-Archive"] = "<" + lb.URL(links.Archive) + ">"
	}
	return h
}

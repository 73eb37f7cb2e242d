package delivery

import (
	"encoding/json"
	"fmt"

	"github.com/digest-newsletter/digest/digest"
)

// FrozenDigest returns the digest an issue froze in its payload: what its
// readers got, for the archive to render for everyone else.
func FrozenDigest(issuePayload []byte) (*digest.Digest, error) {
	var p payload
	if err := json.Unmarshal(issuePayload, &p); err != nil {
		return nil, fmt.Errorf("delivery: frozen digest: %w", err)
	}
	if p.Digest == nil {
		return nil, fmt.Errorf("delivery: frozen digest: payload has none")
	}
	return p.Digest, nil
}

package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path"
	"strings"
)

// This file is the one place that decides when two links name the same
// article. Article IDs (collect), dedupe and "seen" keys (Select,
// SeenKeys) all go through CanonicalURL, so they can never disagree.

// trackingParams are query parameters that identify a campaign, a click or
// a referrer, not a page: two links differing only in them point at the
// same article. Prefixes utm_, at_ (AT Internet) and pk_ (Matomo) are
// matched separately.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "gbraid": true, "wbraid": true, "msclkid": true,
	"yclid": true, "igshid": true, "mc_cid": true, "mc_eid": true, "_hsenc": true, "_hsmi": true,
	"mkt_tok": true, "oly_anon_id": true, "oly_enc_id": true, "vero_id": true, "ncid": true,
	"cmpid": true, "smid": true, "ito": true, "ns_mchannel": true, "ns_source": true,
	"ns_campaign": true, "ns_linkname": true, "ns_fee": true, "sr_share": true, "s_cid": true,
	// ref=hn, ref=rss, ref_src=twsrc: who sent the reader, not what they read.
	"ref": true, "ref_src": true, "ref_url": true,
}

func isTracking(key string) bool {
	k := strings.ToLower(key)
	if strings.HasPrefix(k, "utm_") || strings.HasPrefix(k, "at_") || strings.HasPrefix(k, "pk_") {
		return true
	}
	return trackingParams[k]
}

// CanonicalURL normalises a link for comparison: lowercase scheme and host,
// no default port, no user info, no fragment, no tracking parameters,
// remaining parameters sorted, no trailing slash (except the root).
// Input that does not parse or has no host (a relative link, a file: URL)
// is returned trimmed.
func CanonicalURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if p := u.Port(); p != "" && !(p == "80" && u.Scheme == "http") && !(p == "443" && u.Scheme == "https") {
		host += ":" + p
	}
	u.Host = strings.TrimSuffix(host, ".")
	u.Fragment, u.RawFragment = "", ""
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isTracking(k) {
				delete(q, k)
			}
		}
		u.RawQuery = q.Encode() // Encode sorts by key
	}
	u.ForceQuery = false
	if u.Path != "" && u.Path != "/" {
		p := path.Clean(u.Path)
		if strings.HasSuffix(p, "/") && p != "/" {
			p = strings.TrimRight(p, "/")
		}
		u.Path, u.RawPath = p, ""
	}
	if u.Path == "/" {
		u.Path = ""
	}
	return u.String()
}

// ArticleID is an article's stable identity: its GUID when the source
// gives one, else the canonical form of its absolute URL, else a hash of
// what is left (title, raw link…), so an item with neither GUID nor link
// still keeps one ID across runs.
func ArticleID(guid, link string, fallback ...string) string {
	if g := strings.TrimSpace(guid); g != "" {
		return g
	}
	if u, err := url.Parse(strings.TrimSpace(link)); err == nil && u.Scheme != "" && (u.Host != "" || u.Scheme == "file") {
		return CanonicalURL(link)
	}
	h := sha256.New()
	for _, p := range fallback {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}

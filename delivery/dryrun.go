package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
)

// dryRun streams every confirmed subscriber of the edition through
// rendering and message building, and writes nothing but --out files.
func (s *Sender) dryRun(ctx context.Context, is *frozen, so SendOptions, sum *Summary) error {
	issue, d := is.Issue, is.digest
	if issue.Created.IsZero() {
		issue.Created = s.o.Now().UTC().Truncate(time.Second)
	}
	v := newVariants(s.o.Renderer, d)
	if so.OutDir != "" {
		if err := os.MkdirAll(so.OutDir, 0o755); err != nil {
			return fmt.Errorf("delivery: --out: %w", err)
		}
	}
	emit := func(rc recipient) error {
		m, err := s.message(issue, v, rc)
		if err != nil {
			return err
		}
		raw, err := s.o.Mailer.Build(m)
		if err != nil {
			return fmt.Errorf("delivery: build message for %s: %w", rc.email, err)
		}
		sum.Recipients++
		sum.Sent++
		if so.OutDir != "" {
			name := fmt.Sprintf("%06d-%s.eml", rc.subscriberID, safeFile(rc.email))
			if err := os.WriteFile(filepath.Join(so.OutDir, name), raw, 0o644); err != nil {
				return fmt.Errorf("delivery: --out: %w", err)
			}
		}
		return nil
	}
	if s.o.Store != nil {
		err := s.o.Store.EachSubscriber(ctx, s.members(sum.Edition), func(sub store.Subscriber) error {
			return emit(recipient{subscriberID: sub.ID, stamp: sub.Stamp, email: sub.Email, name: sub.Name, topics: sub.Topics})
		})
		if err != nil {
			return err
		}
	}
	if sum.Recipients == 0 {
		// No list yet: render for one sample recipient so the operator
		// sees what would go out.
		if err := emit(recipient{subscriberID: 0, email: "reader@example.org", name: "Sample Reader"}); err != nil {
			return err
		}
		sum.Recipients, sum.Sent = 0, 0
	}
	if so.OutDir != "" {
		rd, err := v.get(nil)
		if err != nil {
			return err
		}
		unsub, prefs := s.links(issue, links.Subject{})
		html, _ := rd.Personalize(render.Recipient{Name: "Sample Reader", Email: "reader@example.org", UnsubscribeURL: unsub, PreferencesURL: prefs})
		if err := os.WriteFile(filepath.Join(so.OutDir, "preview.html"), html, 0o644); err != nil {
			return fmt.Errorf("delivery: --out: %w", err)
		}
	}
	return nil
}

func safeFile(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@' {
			return r
		}
		return '_'
	}, s)
}

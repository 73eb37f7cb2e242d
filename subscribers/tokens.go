package subscribers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
)

// maxAge is how long a token of purpose p is good for.
func (s *Service) maxAge(p links.Purpose) time.Duration {
	if p == links.PurposeConfirm {
		return s.srv.ConfirmTTL
	}
	return s.srv.UnsubscribeTTL
}

// VerifyLink checks a token of one of purposes (whichever matches first)
// against its subscriber as they are now and returns the subscriber ID.
// Token errors are links.ErrTokenInvalid or links.ErrTokenExpired.
func (s *Service) VerifyLink(ctx context.Context, token string, purposes ...links.Purpose) (int64, error) {
	c, err := s.verify(ctx, token, purposes...)
	return c.Subscriber, err
}

func (s *Service) verify(ctx context.Context, token string, purposes ...links.Purpose) (links.Claims, error) {
	if len(purposes) == 0 {
		purposes = []links.Purpose{links.PurposeUnsubscribe}
	}
	err := links.ErrTokenInvalid
	for _, p := range purposes {
		c, verr := s.links.Signer().Verify(ctx, token, p, s.maxAge(p), s.st.SubscriberStamp)
		if verr == nil {
			return c, nil
		}
		if !errors.Is(verr, links.ErrTokenInvalid) {
			err = verr // expired, or the store did not answer
		}
	}
	return links.Claims{}, err
}

// Subscriber returns the subscriber a link token (of one of purposes)
// vouches for.
func (s *Service) Subscriber(ctx context.Context, token string, purposes ...links.Purpose) (store.Subscriber, error) {
	_, sub, err := s.tokenSubscriber(ctx, token, purposes...)
	return sub, err
}

func (s *Service) tokenSubscriber(ctx context.Context, token string, purposes ...links.Purpose) (links.Claims, store.Subscriber, error) {
	c, err := s.verify(ctx, token, purposes...)
	if err != nil {
		return links.Claims{}, store.Subscriber{}, err
	}
	sub, err := s.st.SubscriberByID(ctx, c.Subscriber)
	if errors.Is(err, store.ErrNotFound) {
		return links.Claims{}, store.Subscriber{}, links.ErrTokenInvalid // removed since the check
	}
	if err != nil {
		return links.Claims{}, store.Subscriber{}, fmt.Errorf("subscribers: %w", err)
	}
	return c, sub, nil
}

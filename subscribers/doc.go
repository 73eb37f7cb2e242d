// Package subscribers is everything about the people on the list that is
// not storage: address validation, signed tokens for the links in every
// email, and (in web.go and friends) the subscription web flow: double
// opt-in (confirm link), one-click unsubscribe per RFC 8058, and
// preferences.
package subscribers

// Package subscribers is everything about the people on the list that is
// not storage: address validation, signed tokens for the links in every
// email, and (in web.go and friends) the subscription web flow: double
// opt-in (confirm link), one-click unsubscribe per RFC 8058, and
// preferences.
//
// Sign-ups are throttled per client IP (IPv6 per /64): at most
// server.rate_per_ip per server.rate_window, a fixed window counted in the
// store (rate_windows), so the limit holds for the sum of every web
// instance on one store, SQLite or PostgreSQL, not for each. An instance
// remembers in bounded memory only the clients the store refused, until
// their window ends, so a client hammering the form costs one store write
// per instance and window. Ended windows are pruned every 1000 hits of an
// instance. If the store cannot count, the sign-up goes through with a
// logged warning (see throttle.allow): the per-address confirm_every and
// the confirmation budget still hold, and the answer never depends on the
// address.
package subscribers

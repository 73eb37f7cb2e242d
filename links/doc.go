// Package links owns the public addresses of a newsletter: the routes the
// web server answers, the URLs built from newsletter.base_url that point at
// them, and the signed tokens those URLs carry. Delivery, the preview, the
// web pages and the inbound mail all build their links here, so a route is
// named once.
//
// A token says what it is for (Purpose), which subscriber it was made for
// and when; it is HMAC-SHA256-signed with the server secret and compared in
// constant time. The MAC also covers the subscriber's stamp, a random number
// stored with the subscriber and never written into the token. So a token
// acts only on the very row it was made for: once that subscriber is
// removed, it works for nobody, not even for a later subscriber who ends up
// with the same id (a store restored from a backup, or rebuilt by import).
// Subscribers stored before stamps existed have stamp 0, which signs exactly
// like the tokens of that time, so links in old emails keep working.
//
// Rules:
//   - every URL under base_url is built by a Builder; no caller joins
//     base_url and a path itself;
//   - a token is verified only with the subscriber's current stamp
//     (Verify looks it up), never by its signature alone.
package links

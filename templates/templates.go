// Package templates holds the default email and preview templates, embedded
// in the binary so a fresh install renders without any files on disk. The
// renderer (digest/render) parses them; a file of the same name in the
// configured [theme] templates_dir replaces the embedded one.
//
// Naming: *.html.tmpl files are parsed together with html/template, and
// *.txt.tmpl files together with text/template, so partials defined in one
// file are visible to the others of the same kind.
package templates

import "embed"

// FS holds the default templates at its root.
//
//go:embed *.tmpl
var FS embed.FS

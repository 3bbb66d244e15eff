// Package i18n is the message catalogue of what transferwatch shows people:
// the evidence pack (package report) and the compliance console label every
// heading, column and fixed phrase with a key, and the catalogue gives its
// text in English and in Simplified Chinese (the regulator reads Chinese).
//
// Keys are stable, dotted and lower case ("checklist.pipia"); the same key
// names the same thing in the JSON of a dossier, so a console can show the
// label of a checklist item or a plan step from its key alone. Figures,
// dates, rule ids, references and reasons produced by the policy are not
// translated.
package i18n

import (
	"maps"
	"slices"
	"strings"
)

// Lang is a language of the catalogue.
type Lang string

// The languages of the catalogue.
const (
	EN Lang = "en"
	ZH Lang = "zh"
)

// Langs lists the languages, English first.
func Langs() []Lang { return []Lang{EN, ZH} }

// ParseLang returns the language named s ("en", "zh", also "zh-CN",
// "zh-Hans" and the like); ok is false for anything else, and "" is English.
func ParseLang(s string) (l Lang, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "" || s == "en" || strings.HasPrefix(s, "en-"):
		return EN, true
	case s == "zh" || strings.HasPrefix(s, "zh-"):
		return ZH, true
	}
	return EN, false
}

// HTMLLang returns the value of an html lang attribute for l.
func (l Lang) HTMLLang() string {
	if l == ZH {
		return "zh-Hans"
	}
	return "en"
}

// Text is a message in both languages.
type Text struct {
	EN string `json:"en"`
	ZH string `json:"zh"`
}

// In returns the text in l.
func (t Text) In(l Lang) string {
	if l == ZH {
		return t.ZH
	}
	return t.EN
}

// Catalog is the message catalogue. It is immutable once made.
type Catalog struct {
	m map[string]Text
}

// New returns the catalogue.
func New() *Catalog { return &Catalog{m: messages()} }

// T returns the text of key in l. A key the catalogue does not hold comes
// back as "⟦key⟧", which tests look for.
func (c *Catalog) T(l Lang, key string) string {
	t, ok := c.m[key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	return t.In(l)
}

// Lookup returns both texts of key, and whether the catalogue holds it.
func (c *Catalog) Lookup(key string) (Text, bool) {
	t, ok := c.m[key]
	return t, ok
}

// Keys returns every key, sorted.
func (c *Catalog) Keys() []string { return slices.Sorted(maps.Keys(c.m)) }

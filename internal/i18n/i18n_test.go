package i18n_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/transferwatch/transferwatch/internal/i18n"
)

func TestEveryKeyHasBothTexts(t *testing.T) {
	c := i18n.New()
	if len(c.Keys()) < 100 {
		t.Fatalf("catalogue holds %d keys", len(c.Keys()))
	}
	for _, k := range c.Keys() {
		txt, _ := c.Lookup(k)
		if strings.TrimSpace(txt.EN) == "" || strings.TrimSpace(txt.ZH) == "" {
			t.Errorf("%s: %+v", k, txt)
		}
		if k != strings.ToLower(k) {
			t.Errorf("key %q is not lower case", k)
		}
		// A Chinese text holds Han characters, or is the same as the
		// English (a name such as HyperLogLog).
		han := strings.IndexFunc(txt.ZH, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
		if !han && txt.ZH != txt.EN {
			t.Errorf("%s: Chinese text %q has no Chinese", k, txt.ZH)
		}
	}
}

func TestLookupAndLang(t *testing.T) {
	c := i18n.New()
	if got := c.T(i18n.ZH, "decision.block"); got != "阻止" {
		t.Errorf("decision.block in zh = %q", got)
	}
	if got := c.T(i18n.EN, "decision.block"); got != "block" {
		t.Errorf("decision.block in en = %q", got)
	}
	if got := c.T(i18n.EN, "no.such.key"); got != "⟦no.such.key⟧" {
		t.Errorf("missing key = %q", got)
	}
	for in, want := range map[string]i18n.Lang{"": i18n.EN, "en": i18n.EN, "EN-gb": i18n.EN, "zh": i18n.ZH, "zh-CN": i18n.ZH, "zh-Hans": i18n.ZH} {
		if got, ok := i18n.ParseLang(in); !ok || got != want {
			t.Errorf("ParseLang(%q) = %s, %v", in, got, ok)
		}
	}
	if _, ok := i18n.ParseLang("fr"); ok {
		t.Error("ParseLang(fr) accepted")
	}
}

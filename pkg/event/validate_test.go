package event_test

import (
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/pkg/event"
)

func TestValidEntityID(t *testing.T) {
	for _, id := range []string{"a", "acme-sh", "ACME_SH.2:x", strings.Repeat("z", 128)} {
		if !event.ValidEntityID(id) {
			t.Errorf("ValidEntityID(%q) = false", id)
		}
	}
	for _, id := range []string{"", " ", "a b", "a/b", "é", "a\x00", "{x}", strings.Repeat("z", 129)} {
		if event.ValidEntityID(id) {
			t.Errorf("ValidEntityID(%q) = true", id)
		}
	}
}

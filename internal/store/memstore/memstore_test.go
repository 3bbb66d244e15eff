package memstore

import (
	"sync"
	"testing"

	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	// Every client of a subtest is the subtest's one in-process store.
	var mu sync.Mutex
	stores := make(map[*testing.T]*Store)
	storetest.Run(t, func(t *testing.T) store.Store {
		mu.Lock()
		defer mu.Unlock()
		s := stores[t]
		if s == nil {
			s = New()
			stores[t] = s
		}
		return s
	})
}

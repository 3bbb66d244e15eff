package sketch

import (
	"sync"
	"time"
)

// Key names one entity's calendar year.
type Key struct {
	Entity string
	Year   int
}

// Batch is what an aggregator gathered between two flushes.
type Batch map[Key]*Year

// Aggregator gathers inserts in memory between flushes. It is safe for
// concurrent use.
type Aggregator struct {
	loc   *time.Location
	mu    sync.Mutex
	batch Batch
}

// NewAggregator returns an empty aggregator that files events under the
// calendar of loc.
func NewAggregator(loc *time.Location) *Aggregator {
	return &Aggregator{loc: loc, batch: make(Batch)}
}

// DayOf returns the calendar year and the day of that year (0 = 1 January)
// of t in loc.
func DayOf(t time.Time, loc *time.Location) (year, day int) {
	t = t.In(loc)
	return t.Year(), t.YearDay() - 1
}

// Add records the subject hashes of one event of entity that occurred at t.
func (a *Aggregator) Add(entity string, at time.Time, c Cell, important bool, hashes []uint64) {
	year, day := DayOf(at, a.loc)
	k := Key{Entity: entity, Year: year}
	a.mu.Lock()
	defer a.mu.Unlock()
	y := a.batch[k]
	if y == nil {
		y = &Year{}
		a.batch[k] = y
	}
	for _, h := range hashes {
		y.Insert(c, day, h)
	}
	if important {
		y.MarkImportant(c.Exempt())
	}
}

// Len returns the number of entity-years gathered so far.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.batch)
}

// Take returns what was gathered and starts afresh.
func (a *Aggregator) Take() Batch {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.batch
	a.batch = make(Batch, len(b))
	return b
}

// Merge adds b into the batch.
func (b Batch) Merge(o Batch) error {
	for k, y := range o {
		if cur := b[k]; cur != nil {
			if err := cur.Merge(y); err != nil {
				return err
			}
			continue
		}
		b[k] = y
	}
	return nil
}

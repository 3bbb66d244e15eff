package sketch

import "time"

// Key names one entity's calendar year.
type Key struct {
	Entity string
	Year   int
}

// Batch is what was gathered in memory between two flushes: the entity-years
// that events touched, each holding only those events' subjects.
type Batch map[Key]*Year

// DayOf returns the calendar year and the day of that year (0 = 1 January)
// of t in loc.
func DayOf(t time.Time, loc *time.Location) (year, day int) {
	t = t.In(loc)
	return t.Year(), t.YearDay() - 1
}

// Add records the subject hashes of one event of entity on day of year, in
// cell c.
func (b Batch) Add(entity string, year, day int, c Cell, important bool, hashes []uint64) {
	k := Key{Entity: entity, Year: year}
	y := b[k]
	if y == nil {
		y = &Year{}
		b[k] = y
	}
	for _, h := range hashes {
		y.Insert(c, day, h)
	}
	if important {
		y.MarkImportant(c.Exempt())
	}
}

// Entities returns the distinct entities of the batch, in no order.
func (b Batch) Entities() []string {
	seen := make(map[string]bool, len(b))
	var ids []string
	for k := range b {
		if !seen[k.Entity] {
			seen[k.Entity] = true
			ids = append(ids, k.Entity)
		}
	}
	return ids
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

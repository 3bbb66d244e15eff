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
	_ = b.AddDense(nil, entity, year, day, c, important, hashes)
}

// AddDense is Add for an aggregator that remembers, in d, which cells are
// already dense in the store: the sketches of those cells start dense in
// the batch. Merged into a dense sketch, a sparse or a dense sketch of the
// same subjects gives the same registers, so the result is the same; but
// a dense sketch takes an insert in constant time, while a sparse one
// rebuilds its sorted list every 164 new subjects until it turns dense
// (at 16,384), flush after flush. It returns the entity-year, for the
// event's flows (Year.AddFlow).
func (b Batch) AddDense(d Dense, entity string, year, day int, c Cell, important bool, hashes []uint64) *Year {
	k := Key{Entity: entity, Year: year}
	y := b[k]
	if y == nil {
		y = &Year{batch: true, dense: d[k]}
		b[k] = y
	}
	for _, h := range hashes {
		y.Insert(c, day, h)
	}
	if important {
		y.MarkImportant(c.Exempt())
	}
	return y
}

// AddFlow records one transfer event of flow k of entity in year; see
// Year.AddFlow.
func (b Batch) AddFlow(entity string, year int, k FlowKey, event uint64, at int64, pipeline string, hashes []uint64) {
	key := Key{Entity: entity, Year: year}
	y := b[key]
	if y == nil {
		y = &Year{batch: true}
		b[key] = y
	}
	y.AddFlow(k, event, at, pipeline, hashes)
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

// Dense records, by entity-year, the cells whose sketch is dense in the
// store (bit c for cell c). See Batch.AddDense.
type Dense map[Key]uint8

// Learn records the cells that are dense in b, which has reached the store
// (where they are dense too, since a merge never makes a sketch sparse).
// It forgets the entity-years more than a year older than the newest of b.
func (d Dense) Learn(b Batch) {
	newest := 0
	var buf []byte
	for k, y := range b {
		newest = max(newest, k.Year)
		for c, sk := range y.Sketches {
			if sk == nil || d[k]&(1<<c) != 0 {
				continue
			}
			var dense bool
			if dense, buf = isDense(sk, buf); dense {
				d[k] |= 1 << c
			}
		}
	}
	for k := range d {
		if k.Year < newest-1 {
			delete(d, k)
		}
	}
}

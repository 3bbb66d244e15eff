package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/transferwatch/transferwatch/internal/sketch"
)

// Fields of an entity-year hash beside the parts of its base (the fields of
// sketch.Year.Encode). See the package comment.
const (
	versionField = "v"  // counts the writes of the base: folds (and flushes before deltas)
	seqField     = "n"  // the sequence number of the last delta pushed
	countField   = "k"  // how many deltas wait to be folded
	nonceField   = "id" // set when the hash is created, so that a fold can tell it is the same hash
	// writeField is a random tag of the flush that pushed the last delta:
	// after Redis lost its last writes (a restart from a snapshot, a
	// replica promoted), a replay can push other deltas under the same
	// numbers, so n and v climb back to values a stamp has seen; w cannot.
	writeField  = "w"
	deltaPrefix = "d" // d<seq>.<part>: one part of delta number seq
)

// foldAt is how many deltas an entity-year holds before the flush that
// pushed the last one folds them into its base. Readers merge up to this
// many deltas (a few more while folds race) on top of the base; a fold
// reads, merges and writes the whole entity-year, as every flush did before
// deltas, once every foldAt flushes.
const foldAt = 8

// maxDeltas is how many deltas a push accepts before it refuses: folds keep
// failing (the base cannot be decoded, say), and a flush should fail loudly
// rather than let the hash grow without bound.
const maxDeltas = 64

// pushScript appends a delta to the entity-year KEYS[1]: it sets the nonce
// ARGV[2] if the hash is new and the write tag to ARGV[2], numbers the delta, writes the field-value
// pairs ARGV[4..] as fields d<seq>.<field>, sets the expiry to ARGV[1]
// (Unix milliseconds) and returns how many deltas wait to be folded. It
// leaves the base and its version alone, so that pushes never make a fold
// fail. It refuses (an error, writing nothing) when ARGV[3] deltas already
// wait, and fails before writing on a key that is not such a hash.
var pushScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if v and not tonumber(v) then
  return redis.error_reply('ERR corrupt version ' .. v)
end
local k = redis.call('HGET', KEYS[1], 'k')
if k and not tonumber(k) then
  return redis.error_reply('ERR corrupt delta count ' .. k)
end
if tonumber(k or '0') >= tonumber(ARGV[3]) then
  return redis.error_reply('ERR ' .. k .. ' deltas wait to be folded: folding keeps failing')
end
redis.call('HSETNX', KEYS[1], 'id', ARGV[2])
redis.call('HSET', KEYS[1], 'w', ARGV[2])
local seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'd' .. seq .. '.' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'k', 1)
`)

// foldScript folds deltas into the base of the entity-year KEYS[1] if its
// nonce is still ARGV[1] and its version still ARGV[2] (no fold, nor a
// flush of a version before deltas, wrote the base since it was read;
// deltas pushed meanwhile are other fields, and stay): it deletes the
// ARGV[4] delta fields ARGV[5..], writes the base's field-value pairs that
// follow, lowers the count of deltas waiting by ARGV[3], raises the
// version and returns 1; otherwise it returns 0 and changes nothing.
var foldScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'id') or '') ~= ARGV[1] or (redis.call('HGET', KEYS[1], 'v') or '0') ~= ARGV[2] then
  return 0
end
local m = tonumber(ARGV[4])
for i = 5, 4 + m do
  redis.call('HDEL', KEYS[1], ARGV[i])
end
for i = 5 + m, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HINCRBY', KEYS[1], 'k', -tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'v', 1)
return 1
`)

// Merge implements store.Store. Every entity-year of b is pushed as a delta
// (what b adds, not the whole entity-year) without reading the store; an
// entity-year that then holds foldAt deltas is folded. Errors reaching
// Redis wrap store.ErrUnavailable: the caller keeps the batch and merges it
// again later, which counts nothing twice. An entity-year whose stored data
// cannot be written to or folded (an error wrapping sketch.ErrCorrupt when
// it cannot be decoded) is reported, while the others land. Entity-years
// past every window (see ExpireAt) are not written, though their entity is
// listed. Merge does not modify b.
func (s *Store) Merge(ctx context.Context, b sketch.Batch) error {
	if len(b) == 0 {
		return nil
	}
	keys := make([]sketch.Key, 0, len(b))
	var entities []any
	seen := make(map[string]bool)
	for k := range b {
		if err := checkEntity(k.Entity); err != nil {
			return err
		}
		if !seen[k.Entity] {
			seen[k.Entity] = true
			entities = append(entities, k.Entity)
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sketch.Key) int {
		if c := strings.Compare(a.Entity, b.Entity); c != 0 {
			return c
		}
		return a.Year - b.Year
	})
	// Entities are listed before any of their data lands, so that a listed
	// entity may have no data yet, but data never lacks its entity.
	if err := s.client.SAdd(ctx, s.entitiesKey(), entities...).Err(); err != nil {
		return wrapErr("merge: list entities", err)
	}
	now := time.Now()
	keys = slices.DeleteFunc(keys, func(k sketch.Key) bool { return !ExpireAt(k.Year).After(now) })

	nonce := newNonce() // the nonce of hashes it creates, and the write tag of its pushes
	var failed []error
	for chunk := range slices.Chunk(keys, pipelineKeys) {
		errs, err := s.push(ctx, b, chunk, nonce)
		if err != nil {
			return err
		}
		failed = append(failed, errs...)
	}
	return errors.Join(failed...)
}

// newNonce returns a random token that names a hash's creation.
func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// push pushes the entity-years keys of b as deltas, then folds those that
// hold foldAt deltas. It returns the errors of entity-years it had to
// skip, and an error that stopped it.
func (s *Store) push(ctx context.Context, b sketch.Batch, keys []sketch.Key, nonce string) (skipped []error, err error) {
	rks := make([]string, len(keys))
	args := make([][]any, len(keys))
	errs := make([]error, len(keys))
	parallel(len(keys), func(i int) {
		k := keys[i]
		rks[i] = s.yearKey(k.Entity, k.Year)
		enc, err := b[k].Encode()
		if err != nil {
			errs[i] = fmt.Errorf("redisstore: %s: %w", rks[i], err)
			return
		}
		a := make([]any, 0, 3+2*len(enc))
		a = append(a, ExpireAt(k.Year).UnixMilli(), nonce, maxDeltas)
		for _, f := range slices.Sorted(maps.Keys(enc)) {
			a = append(a, f, enc[f])
		}
		args[i] = a
	})
	var todo []int
	for i := range keys {
		if errs[i] != nil {
			skipped = append(skipped, errs[i])
		} else {
			todo = append(todo, i)
		}
	}
	cmds, err := s.evalAll(ctx, pushScript, pick(rks, todo), pick(args, todo))
	if err != nil {
		return skipped, wrapErr("merge: write", err)
	}
	var fold []string
	for j, cmd := range cmds {
		rk := rks[todo[j]]
		n, err := cmd.Int64()
		switch {
		case err == nil:
			if n >= foldAt {
				fold = append(fold, rk)
			}
		case unavailable(err):
			return skipped, wrapErr("merge: write "+rk, err)
		default:
			skipped = append(skipped, wrapErr("merge: write "+rk, err))
		}
	}
	if len(fold) == 0 {
		return skipped, nil
	}
	errs2, err := s.fold(ctx, fold)
	return append(skipped, errs2...), err
}

// fold folds the deltas of the entity-years rks into their bases. A fold
// that loses the race against another fold leaves its entity-year alone:
// that fold took the deltas, or the next push folds them.
func (s *Store) fold(ctx context.Context, rks []string) (skipped []error, err error) {
	pipe := s.client.Pipeline()
	reads := make([]*redis.MapStringStringCmd, len(rks))
	for i, rk := range rks {
		reads[i] = pipe.HGetAll(ctx, rk)
	}
	if _, err := pipe.Exec(ctx); err != nil && unavailable(err) {
		return nil, wrapErr("merge: fold: read", err)
	}
	for i, rk := range rks {
		if err := reads[i].Err(); unavailable(err) {
			return nil, wrapErr("merge: fold: read "+rk, err)
		}
	}
	args := make([][]any, len(rks))
	errs := make([]error, len(rks))
	parallel(len(rks), func(i int) {
		m, err := reads[i].Result()
		if err != nil {
			errs[i] = wrapErr("merge: fold: read "+rks[i], err)
			return
		}
		if args[i], err = foldArgs(m); err != nil {
			errs[i] = fmt.Errorf("redisstore: fold %s: %w", rks[i], err)
		}
	})
	var todo []int
	for i := range rks {
		switch {
		case errs[i] != nil:
			skipped = append(skipped, errs[i])
		case args[i] != nil:
			todo = append(todo, i)
		}
		// Neither: nothing to fold, another writer just did.
	}
	cmds, err := s.evalAll(ctx, foldScript, pick(rks, todo), pick(args, todo))
	if err != nil {
		return skipped, wrapErr("merge: fold", err)
	}
	for j, cmd := range cmds {
		rk := rks[todo[j]]
		switch _, err := cmd.Int64(); {
		case err == nil: // folded, or lost the race (0)
		case unavailable(err):
			return skipped, wrapErr("merge: fold "+rk, err)
		default:
			skipped = append(skipped, wrapErr("merge: fold "+rk, err))
		}
	}
	return skipped, nil
}

// foldArgs returns the arguments of foldScript that fold every delta of
// the stored hash m into its base, or nil if it holds none.
func foldArgs(m map[string]string) ([]any, error) {
	st, err := parseStored(m)
	if err != nil {
		return nil, err
	}
	if len(st.deltas) == 0 {
		return nil, nil
	}
	y, err := st.year()
	if err != nil {
		return nil, err
	}
	enc, err := y.Encode()
	if err != nil {
		return nil, err
	}
	version := m[versionField]
	if version == "" {
		version = "0"
	}
	a := []any{st.nonce, version, len(st.deltas), len(st.deltaFields)}
	for _, f := range st.deltaFields {
		a = append(a, f)
	}
	for _, f := range slices.Sorted(maps.Keys(enc)) {
		if old, ok := st.base[f]; !ok || old != string(enc[f]) {
			a = append(a, f, enc[f])
		}
	}
	return a, nil
}

// stored is an entity-year hash as read: its base, its deltas and the
// fields that keep them apart.
type stored struct {
	base        map[string]string
	deltas      map[int64]map[string]string // by sequence number
	deltaFields []string                    // every field of every delta, as stored
	nonce       string
}

// parseStored splits the hash m of an entity-year into its base and its
// deltas. A field of neither is left in the base, where decoding rejects
// it.
func parseStored(m map[string]string) (stored, error) {
	st := stored{base: make(map[string]string, len(m))}
	for name, v := range m {
		switch name {
		case versionField, seqField, countField:
			if _, err := parseVersion(v); err != nil {
				return stored{}, fmt.Errorf("field %q: %w", name, err)
			}
			continue
		case nonceField:
			st.nonce = v
			continue
		case writeField:
			continue
		}
		if seq, part, ok := deltaField(name); ok {
			if st.deltas == nil {
				st.deltas = make(map[int64]map[string]string)
			}
			if st.deltas[seq] == nil {
				st.deltas[seq] = make(map[string]string)
			}
			st.deltas[seq][part] = v
			st.deltaFields = append(st.deltaFields, name)
			continue
		}
		st.base[name] = v
	}
	slices.Sort(st.deltaFields)
	return st, nil
}

// deltaField splits the name d<seq>.<part> of a delta's field.
func deltaField(name string) (seq int64, part string, ok bool) {
	rest, ok := strings.CutPrefix(name, deltaPrefix)
	if !ok {
		return 0, "", false
	}
	num, part, ok := strings.Cut(rest, ".")
	if !ok || part == "" {
		return 0, "", false
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq <= 0 || strconv.FormatInt(seq, 10) != num {
		return 0, "", false
	}
	return seq, part, true
}

// year decodes the base and merges every delta into it, in the order they
// were pushed (any order gives the same figures: merging is commutative).
func (st stored) year() (*sketch.Year, error) {
	y, err := decodeParts(st.base)
	if err != nil {
		return nil, err
	}
	for _, seq := range slices.Sorted(maps.Keys(st.deltas)) {
		d, err := decodeParts(st.deltas[seq])
		if err != nil {
			return nil, fmt.Errorf("delta %d: %w", seq, err)
		}
		if err := y.Merge(d); err != nil {
			return nil, fmt.Errorf("delta %d: %w: %w", seq, sketch.ErrCorrupt, err)
		}
	}
	return y, nil
}

// decodeParts decodes the parts of a Year stored as strings.
func decodeParts(m map[string]string) (*sketch.Year, error) {
	fields := make(map[string][]byte, len(m))
	for name, v := range m {
		fields[name] = []byte(v)
	}
	return sketch.DecodeYear(fields)
}

// evalAll runs script once per key, pipelined, with its arguments, and
// returns the commands in the order of keys. A node that does not know the
// script (never loaded, or flushed) gets its text (EVAL) in a second
// pipeline. Its error is a failure of the pipeline itself.
func (s *Store) evalAll(ctx context.Context, script *redis.Script, keys []string, args [][]any) ([]*redis.Cmd, error) {
	out := make([]*redis.Cmd, len(keys))
	todo := make([]int, len(keys))
	for i := range todo {
		todo[i] = i
	}
	for _, eval := range []bool{false, true} {
		if len(todo) == 0 {
			break
		}
		pipe := s.client.Pipeline()
		for _, i := range todo {
			if eval {
				out[i] = script.Eval(ctx, pipe, []string{keys[i]}, args[i]...)
			} else {
				out[i] = script.EvalSha(ctx, pipe, []string{keys[i]}, args[i]...)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && unavailable(err) {
			return nil, err
		}
		var noScript []int
		for _, i := range todo {
			if err := out[i].Err(); !eval && err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				noScript = append(noScript, i)
			}
		}
		todo = noScript
	}
	return out, nil
}

// parallel calls f(0..n-1) on GOMAXPROCS goroutines: decoding, merging and
// encoding entity-years is CPU work on independent data.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				f(i)
			}
		})
	}
	wg.Wait()
}

// pick returns the elements of xs at the indices is.
func pick[T any](xs []T, is []int) []T {
	out := make([]T, len(is))
	for j, i := range is {
		out[j] = xs[i]
	}
	return out
}

// parseVersion reads the version field of an entity-year; absent is 0.
func parseVersion(v any) (int64, error) {
	if v == nil {
		return 0, nil
	}
	str, _ := v.(string)
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: version %q", sketch.ErrCorrupt, v)
	}
	return n, nil
}

// Package redisstore keeps the sketches in Redis, a single node or a Redis
// Cluster, shared by every transferwatch instance.
//
// # Layout
//
// With the key prefix P (default "tw"):
//
//	P:{<entity>}:y<year>   HASH  the serialized parts of one entity-year
//	                             (sketch.Year.Encode: s0..s7, c0..c7, imp)
//	                             and its version v
//	P:{<entity>}:decision  HASH  version, decision, at (Unix ms) and msg,
//	                             the decisions-topic message announcing it
//	P:{<entity>}:outbox    LIST  change messages not yet published, oldest
//	                             first, each "<version>:<message>"
//	P:{<entity>}:history   LIST  the last 1,000 changes, newest first
//	P:{<entity>}:lease     STRING the owner token of the publishing lease
//	                             (PX: it lapses by itself)
//	P:entities             SET   every entity ever merged
//
// The hash tag {<entity>} puts all keys of one entity in one cluster slot,
// so every update of an entity is one atomic step on one node, on a single
// server and on a cluster alike. An entity-year expires a week after 1
// January two years on (UTC): from then on it counts in no window.
//
// # Merging
//
// A flush merges under optimistic concurrency: it reads the version and the
// parts the batch touches of every entity-year in one pipeline, merges the
// batch in, and writes back in a second pipeline with a compare-and-set
// script that applies the parts only if the version is still the one read.
// Entity-years whose version moved are read and merged again until they
// land, so no update is ever lost however many instances flush at once.
// Since merging a sketch into itself changes nothing, a batch merged twice
// (say, again after an ambiguous failure) counts once.
//
// # Decisions
//
// A decision change is one script on the entity's keys: compare the version,
// record the decision and its message, append the message to the outbox and
// push it onto the capped history. Publishing takes the lease with SET NX
// PX; acknowledging and releasing are scripts that check the owner token,
// and the acknowledgement also checks the versions at the head of the
// outbox, so it removes exactly the messages published.
package redisstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// DefaultKeyPrefix is the key prefix when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "tw"

// Client settings for a long-running service.
const (
	dialTimeout = 5 * time.Second
	ioTimeout   = 5 * time.Second
	poolSize    = 32 // connections per node
	maxRetries  = 2
	// dialAttempts is 1: the command retries (maxRetries) dial again, and
	// while Redis is down the caller backs off itself; piling retries on
	// retries only delays its ErrUnavailable.
	dialAttempts = 1
)

// pipelineKeys bounds the entity-years read and written per round trip, and
// so the memory a flush holds at once (a dense sketch is 16 KiB).
const pipelineKeys = 256

// expiryMargin is how long an entity-year outlives the last day it counts
// in any window, so that no time zone sees it expire early.
const expiryMargin = 7 * 24 * time.Hour

// versionField is the version of an entity-year hash.
const versionField = "v"

// ErrInvalidEntity reports an entity id that is not event.ValidEntityID.
var ErrInvalidEntity = errors.New("redisstore: invalid entity id")

// Options configures a Store.
type Options struct {
	// Addrs lists one address for a single node, or several seed addresses
	// of a Redis Cluster.
	Addrs []string
	// Username names an ACL user; empty means the default user.
	Username string
	// Password authenticates the user; empty means none.
	Password string
	// DB selects a database on a single node; a cluster has only 0.
	DB int
	// TLS, if not nil, makes every connection use TLS with this
	// configuration.
	TLS *tls.Config
	// KeyPrefix starts every key; DefaultKeyPrefix if empty. It may not
	// contain braces, which would change the cluster hash slot of keys.
	KeyPrefix string
}

// Store is a store.Store kept in Redis. It is safe for concurrent use.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	cluster bool
}

var _ store.Store = (*Store)(nil)

// casScript applies the parts of an entity-year if its version is still
// ARGV[1]: it writes the field-value pairs ARGV[3..], sets the version to
// ARGV[1]+1 and the expiry to ARGV[2] (Unix milliseconds), and returns 1;
// otherwise it returns 0 and changes nothing.
var casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v') or '0'
if cur ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', tostring(tonumber(ARGV[1]) + 1), unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
`)

// swapScript records a decision if its stored version is still ARGV[1]:
// it sets version ARGV[2], decision ARGV[3], time ARGV[4] and message
// ARGV[5], and returns 1; otherwise it returns 0 and changes nothing. With
// ARGV[7] = "1" it appends the message to the outbox and pushes the change
// record ARGV[8] (the message when empty) onto the history, capped at
// ARGV[6] entries; otherwise (a repair) it pushes it onto the history only
// if the history's newest entry is older.
var swapScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'version') or '0'
if cur ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'decision', ARGV[3], 'at', ARGV[4], 'msg', ARGV[5])
local entry = ARGV[2] .. ':' .. ARGV[5]
local push = ARGV[7] == '1'
if push then
  redis.call('RPUSH', KEYS[2], entry)
else
  local head = redis.call('LINDEX', KEYS[3], 0)
  push = (not head) or tonumber(string.match(head, '^(%d+):')) < tonumber(ARGV[2])
end
if push then
  if ARGV[8] ~= '' then
    entry = ARGV[2] .. ':' .. ARGV[8]
  end
  redis.call('LPUSH', KEYS[3], entry)
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
end
return 1
`)

// ackScript removes the first ARGV[4] entries of the outbox KEYS[2] if the
// lease KEYS[1] is held by ARGV[1] and those entries run from version
// ARGV[2] to version ARGV[3]; it returns 1 if it did, else 0.
var ackScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local n = tonumber(ARGV[4])
local first = redis.call('LINDEX', KEYS[2], 0)
local last = redis.call('LINDEX', KEYS[2], n - 1)
if (not first) or (not last) or string.match(first, '^(%d+):') ~= ARGV[2] or string.match(last, '^(%d+):') ~= ARGV[3] then
  return 0
end
redis.call('LTRIM', KEYS[2], n, -1)
return 1
`)

// unlockScript deletes the lease KEYS[1] if ARGV[1] holds it.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// New returns a Store reaching Redis as opts say. It does not connect: use
// Ping to check that Redis answers.
func New(opts Options) (*Store, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redisstore: no address")
	}
	if len(opts.Addrs) > 1 && opts.DB != 0 {
		return nil, fmt.Errorf("redisstore: db %d: a Redis Cluster has only database 0", opts.DB)
	}
	if opts.DB < 0 {
		return nil, fmt.Errorf("redisstore: db %d is negative", opts.DB)
	}
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q contains a brace", prefix)
	}
	var tlsConf *tls.Config
	if opts.TLS != nil {
		tlsConf = opts.TLS.Clone()
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 slices.Clone(opts.Addrs),
		ClientName:            "transferwatch",
		Username:              opts.Username,
		Password:              opts.Password,
		DB:                    opts.DB,
		TLSConfig:             tlsConf,
		DialTimeout:           dialTimeout,
		DialerRetries:         dialAttempts,
		ReadTimeout:           ioTimeout,
		WriteTimeout:          ioTimeout,
		ContextTimeoutEnabled: true,
		PoolSize:              poolSize,
		PoolTimeout:           ioTimeout + time.Second,
		MaxRetries:            maxRetries,
		// Maintenance notifications are a Redis Enterprise feature; plain
		// Redis does not know the command.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	_, cluster := client.(*redis.ClusterClient)
	return &Store{client: client, prefix: prefix, cluster: cluster}, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// yearKey names the hash of one entity-year.
func (s *Store) yearKey(entity string, year int) string {
	return s.prefix + ":{" + entity + "}:y" + strconv.Itoa(year)
}

// decisionKey names the hash of an entity's decision.
func (s *Store) decisionKey(entity string) string {
	return s.prefix + ":{" + entity + "}:decision"
}

// outboxKey names the list of an entity's unpublished change messages.
func (s *Store) outboxKey(entity string) string {
	return s.prefix + ":{" + entity + "}:outbox"
}

// historyKey names the list of an entity's last change messages.
func (s *Store) historyKey(entity string) string {
	return s.prefix + ":{" + entity + "}:history"
}

// leaseKey names an entity's publishing lease.
func (s *Store) leaseKey(entity string) string {
	return s.prefix + ":{" + entity + "}:lease"
}

// entitiesKey names the set of entities.
func (s *Store) entitiesKey() string { return s.prefix + ":entities" }

// ExpireAt returns when the entity-year of year expires: it counts in no
// window from 1 January of year+2 on, wherever the service's time zone.
func ExpireAt(year int) time.Time {
	return time.Date(year+2, time.January, 1, 0, 0, 0, 0, time.UTC).Add(expiryMargin)
}

func checkEntity(id string) error {
	if !event.ValidEntityID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidEntity, id)
	}
	return nil
}

// Merge implements store.Store. Errors reaching Redis wrap
// store.ErrUnavailable: the caller keeps the batch and merges it again
// later, which counts nothing twice. An entity-year whose stored data
// cannot be decoded (an error wrapping sketch.ErrCorrupt) or written is
// skipped and reported, while the others land. Entity-years past every
// window (see ExpireAt) are not written, though their entity is listed.
// Merge does not modify b.
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

	var failed []error
	for chunk := range slices.Chunk(keys, pipelineKeys) {
		errs, err := s.mergeChunk(ctx, b, chunk)
		if err != nil {
			return err
		}
		failed = append(failed, errs...)
	}
	return errors.Join(failed...)
}

// update is one entity-year's pending write.
type update struct {
	key   sketch.Key
	redis string // the key in Redis
	args  []any  // expected version, expiry, then field-value pairs
}

// mergeChunk merges the entity-years keys of b until all have landed. It
// returns the errors of entity-years it had to skip, and an error that
// stopped it.
func (s *Store) mergeChunk(ctx context.Context, b sketch.Batch, keys []sketch.Key) (skipped []error, err error) {
	for round := 0; len(keys) > 0; round++ {
		if round > 1 {
			// Others keep winning the race for these keys: step aside a
			// little, at random, so that the writers spread out.
			pause := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(round, 6), 50*time.Millisecond))))
			select {
			case <-ctx.Done():
				return skipped, wrapErr("merge", ctx.Err())
			case <-time.After(pause):
			}
		}
		updates, errs, err := s.prepare(ctx, b, keys)
		if err != nil {
			return skipped, err
		}
		skipped = append(skipped, errs...)
		lost, errs, err := s.apply(ctx, updates)
		if err != nil {
			return skipped, err
		}
		skipped = append(skipped, errs...)
		keys = lost
	}
	return skipped, nil
}

// prepare reads the parts of keys that b touches and returns the writes
// that merge b in. Entity-years b adds nothing to need no write.
func (s *Store) prepare(ctx context.Context, b sketch.Batch, keys []sketch.Key) ([]update, []error, error) {
	pipe := s.client.Pipeline()
	fields := make([][]string, len(keys))
	cmds := make([]*redis.SliceCmd, len(keys))
	for i, k := range keys {
		fields[i] = b[k].Fields()
		cmds[i] = pipe.HMGet(ctx, s.yearKey(k.Entity, k.Year), append([]string{versionField}, fields[i]...)...)
	}
	if _, err := pipe.Exec(ctx); err != nil && unavailable(err) {
		return nil, nil, wrapErr("merge: read", err)
	}
	for i, k := range keys {
		if err := cmds[i].Err(); unavailable(err) {
			return nil, nil, wrapErr("merge: read "+s.yearKey(k.Entity, k.Year), err)
		}
	}
	// Decoding, merging and encoding is CPU work on independent
	// entity-years: spread it over the processors.
	results := make([]*update, len(keys))
	errs := make([]error, len(keys))
	workers := min(runtime.GOMAXPROCS(0), len(keys))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(keys); i += workers {
				k := keys[i]
				rk := s.yearKey(k.Entity, k.Year)
				vals, err := cmds[i].Result()
				if err != nil {
					errs[i] = wrapErr("merge: read "+rk, err)
					continue
				}
				results[i], errs[i] = s.merged(rk, k, b[k], fields[i], vals)
			}
		})
	}
	wg.Wait()
	var updates []update
	var skipped []error
	for i, u := range results {
		if errs[i] != nil {
			skipped = append(skipped, errs[i])
		} else if u != nil {
			updates = append(updates, *u)
		}
	}
	return updates, skipped, nil
}

// merged merges y into the stored parts vals (the version, then fields) of
// the entity-year k, stored under rk, and returns the write, or nil if y
// adds nothing.
func (s *Store) merged(rk string, k sketch.Key, y *sketch.Year, fields []string, vals []any) (*update, error) {
	version, err := parseVersion(vals[0])
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", rk, err)
	}
	stored := make(map[string][]byte, len(fields))
	for j, f := range fields {
		if v, ok := vals[j+1].(string); ok {
			stored[f] = []byte(v)
		}
	}
	cur, err := sketch.DecodeYear(stored)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", rk, err)
	}
	if err := cur.Merge(y); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w: %w", rk, sketch.ErrCorrupt, err)
	}
	enc, err := cur.Encode()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", rk, err)
	}
	args := []any{strconv.FormatInt(version, 10), ExpireAt(k.Year).UnixMilli()}
	for _, f := range fields {
		if old, ok := stored[f]; !ok || !bytes.Equal(old, enc[f]) {
			args = append(args, f, enc[f])
		}
	}
	if len(args) == 2 {
		return nil, nil // already there: a batch merged again
	}
	return &update{key: k, redis: rk, args: args}, nil
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

// apply runs the compare-and-set script for every update and returns the
// keys whose version moved meanwhile.
func (s *Store) apply(ctx context.Context, updates []update) (lost []sketch.Key, skipped []error, err error) {
	if len(updates) == 0 {
		return nil, nil, nil
	}
	run := func(todo []int, eval bool) ([]*redis.Cmd, error) {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.Cmd, len(todo))
		for i, u := range todo {
			keys := []string{updates[u].redis}
			if eval {
				cmds[i] = casScript.Eval(ctx, pipe, keys, updates[u].args...)
			} else {
				cmds[i] = pipe.EvalSha(ctx, casScript.Hash(), keys, updates[u].args...)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && unavailable(err) {
			return nil, wrapErr("merge: write", err)
		}
		return cmds, nil
	}
	todo := make([]int, len(updates))
	for i := range todo {
		todo[i] = i
	}
	for _, eval := range []bool{false, true} {
		cmds, err := run(todo, eval)
		if err != nil {
			return nil, nil, err
		}
		var noScript []int
		for i, cmd := range cmds {
			u := updates[todo[i]]
			n, err := cmd.Int64()
			switch {
			case err == nil && n == 1:
			case err == nil:
				lost = append(lost, u.key)
			case unavailable(err):
				return nil, nil, wrapErr("merge: write "+u.redis, err)
			case !eval && redis.HasErrorPrefix(err, "NOSCRIPT"):
				// The node does not know the script yet (or flushed
				// it): EVAL sends the text and caches it.
				noScript = append(noScript, todo[i])
			default:
				skipped = append(skipped, wrapErr("merge: write "+u.redis, err))
			}
		}
		if len(noScript) == 0 {
			break
		}
		todo = noScript
	}
	return lost, skipped, nil
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, entity string, years ...int) (sketch.History, error) {
	h, _, err := s.VersionedHistory(ctx, entity, years...)
	return h, err
}

// VersionedHistory implements store.Store: HGETALL reads each entity-year
// with its version in one step.
func (s *Store) VersionedHistory(ctx context.Context, entity string, years ...int) (sketch.History, []int64, error) {
	if err := checkEntity(entity); err != nil {
		return nil, nil, err
	}
	h := make(sketch.History, len(years))
	versions := make([]int64, len(years))
	if len(years) == 0 {
		return h, versions, nil
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(years))
	for i, yr := range years {
		cmds[i] = pipe.HGetAll(ctx, s.yearKey(entity, yr))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, wrapErr("history", err)
	}
	for i, yr := range years {
		m := cmds[i].Val()
		if len(m) == 0 {
			continue
		}
		fields := make(map[string][]byte, len(m))
		for name, v := range m {
			if name != versionField {
				fields[name] = []byte(v)
			}
		}
		key := s.yearKey(entity, yr)
		y, err := sketch.DecodeYear(fields)
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: %s: %w", key, err)
		}
		versions[i] = store.Unreadable // equal to no stamp: evaluated again
		if v, ok := m[versionField]; ok {
			if n, err := parseVersion(v); err == nil {
				versions[i] = n
			}
		}
		h[yr] = y
	}
	return h, versions, nil
}

// stampEntities bounds the entities whose stamps one pipeline reads (each
// is len(years)+2 small commands).
const stampEntities = 256

// Stamps implements store.Store: per entity, HGET of each entity-year's
// version and of the decision record's, and LLEN of the outbox, pipelined
// (a cluster pipeline goes to each node with the keys it holds).
func (s *Store) Stamps(ctx context.Context, entities []string, years ...int) ([]store.Stamp, error) {
	for _, id := range entities {
		if err := checkEntity(id); err != nil {
			return nil, err
		}
	}
	out := make([]store.Stamp, 0, len(entities))
	for chunk := range slices.Chunk(entities, stampEntities) {
		pipe := s.client.Pipeline()
		type cmds struct {
			years    []*redis.StringCmd
			decision *redis.StringCmd
			pending  *redis.IntCmd
		}
		cs := make([]cmds, len(chunk))
		for i, id := range chunk {
			cs[i].years = make([]*redis.StringCmd, len(years))
			for j, yr := range years {
				cs[i].years[j] = pipe.HGet(ctx, s.yearKey(id, yr), versionField)
			}
			cs[i].decision = pipe.HGet(ctx, s.decisionKey(id), "version")
			cs[i].pending = pipe.LLen(ctx, s.outboxKey(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && unavailable(err) {
			return nil, wrapErr("stamps", err)
		}
		for i := range chunk {
			st := store.Stamp{Years: make([]int64, len(years))}
			var err error
			for j, c := range cs[i].years {
				if st.Years[j], err = stampVersion(c); err != nil {
					return nil, err
				}
			}
			if st.Decision, err = stampVersion(cs[i].decision); err != nil {
				return nil, err
			}
			n, err := cs[i].pending.Result()
			switch {
			case unavailable(err):
				return nil, wrapErr("stamps", err)
			case err != nil:
				st.Decision = store.Unreadable
			}
			st.Pending = int(n)
			out = append(out, st)
		}
	}
	return out, nil
}

// stampVersion reads a version for Stamps: 0 when absent, store.Unreadable
// when it cannot be read; an error only when Redis cannot answer.
func stampVersion(c *redis.StringCmd) (int64, error) {
	v, err := c.Result()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, nil
	case unavailable(err):
		return 0, wrapErr("stamps", err)
	case err != nil:
		return store.Unreadable, nil
	}
	n, err := parseVersion(v)
	if err != nil {
		return store.Unreadable, nil
	}
	return n, nil
}

// Entities implements store.Store.
func (s *Store) Entities(ctx context.Context) ([]string, error) {
	ids, err := s.client.SMembers(ctx, s.entitiesKey()).Result()
	if err != nil {
		return nil, wrapErr("entities", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Seen implements store.Store.
func (s *Store) Seen(ctx context.Context, entity string) (bool, error) {
	ok, err := s.client.SIsMember(ctx, s.entitiesKey(), entity).Result()
	if err != nil {
		return false, wrapErr("entities", err)
	}
	return ok, nil
}

// Decision implements store.Store.
func (s *Store) Decision(ctx context.Context, entity string) (store.Decision, error) {
	if err := checkEntity(entity); err != nil {
		return store.Decision{}, err
	}
	key := s.decisionKey(entity)
	pipe := s.client.Pipeline()
	rec := pipe.HMGet(ctx, key, "version", "decision", "at")
	pending := pipe.LLen(ctx, s.outboxKey(entity))
	if _, err := pipe.Exec(ctx); err != nil {
		return store.Decision{}, wrapErr("decision", err)
	}
	vals := rec.Val()
	d := store.Decision{Pending: int(pending.Val())}
	if vals[0] == nil {
		return d, nil
	}
	version, err := parseVersion(vals[0])
	if err != nil {
		return store.Decision{}, fmt.Errorf("redisstore: %s: %w", key, err)
	}
	d.Version = version
	d.Decision, _ = vals[1].(string)
	if at, ok := vals[2].(string); ok && at != "" {
		ms, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			return store.Decision{}, fmt.Errorf("redisstore: %s: %w: time %q", key, sketch.ErrCorrupt, at)
		}
		d.DecidedAt = time.UnixMilli(ms)
	}
	return d, nil
}

// SwapDecision implements store.Store.
func (s *Store) SwapDecision(ctx context.Context, entity string, prev, next store.Decision, msg []byte) (bool, error) {
	return s.swap(ctx, entity, prev, next, msg, true)
}

// RepairDecision implements store.Store.
func (s *Store) RepairDecision(ctx context.Context, entity string, prev, next store.Decision, msg []byte) (bool, error) {
	return s.swap(ctx, entity, prev, next, msg, false)
}

func (s *Store) swap(ctx context.Context, entity string, prev, next store.Decision, msg []byte, enqueue bool) (bool, error) {
	if err := checkEntity(entity); err != nil {
		return false, err
	}
	if next.Version <= prev.Version {
		return false, fmt.Errorf("redisstore: %w: %d after %d", store.ErrVersionOrder, next.Version, prev.Version)
	}
	flag := "0"
	if enqueue {
		flag = "1"
	}
	at := "" // unknown
	if !next.DecidedAt.IsZero() {
		at = strconv.FormatInt(next.DecidedAt.UnixMilli(), 10)
	}
	keys := []string{s.decisionKey(entity), s.outboxKey(entity), s.historyKey(entity)}
	n, err := swapScript.Run(ctx, s.client, keys,
		strconv.FormatInt(prev.Version, 10), strconv.FormatInt(next.Version, 10), next.Decision,
		at, msg, store.DecisionHistoryLen, flag, next.Change).Int64()
	if err != nil {
		return false, wrapErr("swap decision", err)
	}
	return n == 1, nil
}

// LatestMessage implements store.Store.
func (s *Store) LatestMessage(ctx context.Context, entity string) (store.Message, error) {
	if err := checkEntity(entity); err != nil {
		return store.Message{}, err
	}
	key := s.decisionKey(entity)
	vals, err := s.client.HMGet(ctx, key, "version", "msg").Result()
	if err != nil {
		return store.Message{}, wrapErr("latest message", err)
	}
	msg, ok := vals[1].(string)
	if vals[0] == nil || !ok {
		return store.Message{}, nil
	}
	version, err := parseVersion(vals[0])
	if err != nil {
		return store.Message{}, fmt.Errorf("redisstore: %s: %w", key, err)
	}
	return store.Message{Version: version, Value: []byte(msg)}, nil
}

// DecisionHistory implements store.Store.
func (s *Store) DecisionHistory(ctx context.Context, entity string, n int) ([]store.Message, error) {
	return s.messages(ctx, entity, s.historyKey(entity), n, "decision history")
}

// Outbox implements store.Store.
func (s *Store) Outbox(ctx context.Context, entity string, n int) ([]store.Message, error) {
	return s.messages(ctx, entity, s.outboxKey(entity), n, "outbox")
}

// messages reads the first n entries of the message list key.
func (s *Store) messages(ctx context.Context, entity, key string, n int, op string) ([]store.Message, error) {
	if err := checkEntity(entity); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	entries, err := s.client.LRange(ctx, key, 0, int64(n-1)).Result()
	if err != nil {
		return nil, wrapErr(op, err)
	}
	out := make([]store.Message, len(entries))
	for i, e := range entries {
		m, err := parseEntry(e)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s: %w", key, err)
		}
		out[i] = m
	}
	return out, nil
}

// parseEntry reads a "<version>:<message>" list entry.
func parseEntry(e string) (store.Message, error) {
	v, msg, ok := strings.Cut(e, ":")
	version, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || version <= 0 {
		return store.Message{}, fmt.Errorf("%w: message entry %.20q", sketch.ErrCorrupt, e)
	}
	return store.Message{Version: version, Value: []byte(msg)}, nil
}

// LockOutbox implements store.Store.
func (s *Store) LockOutbox(ctx context.Context, entity, owner string, ttl time.Duration) (bool, error) {
	if err := checkEntity(entity); err != nil {
		return false, err
	}
	ok, err := s.client.SetNX(ctx, s.leaseKey(entity), owner, ttl).Result()
	if err != nil {
		return false, wrapErr("lock outbox", err)
	}
	return ok, nil
}

// AckOutbox implements store.Store.
func (s *Store) AckOutbox(ctx context.Context, entity, owner string, published []store.Message) (bool, error) {
	if err := checkEntity(entity); err != nil {
		return false, err
	}
	if len(published) == 0 {
		return true, nil
	}
	n, err := ackScript.Run(ctx, s.client, []string{s.leaseKey(entity), s.outboxKey(entity)}, owner,
		strconv.FormatInt(published[0].Version, 10), strconv.FormatInt(published[len(published)-1].Version, 10),
		len(published)).Int64()
	if err != nil {
		return false, wrapErr("ack outbox", err)
	}
	return n == 1, nil
}

// UnlockOutbox implements store.Store.
func (s *Store) UnlockOutbox(ctx context.Context, entity, owner string) error {
	if err := checkEntity(entity); err != nil {
		return err
	}
	return wrapErr("unlock outbox", unlockScript.Run(ctx, s.client, []string{s.leaseKey(entity)}, owner).Err())
}

// Ping implements store.Store: it checks every master of a cluster.
func (s *Store) Ping(ctx context.Context) error {
	var err error
	if c, ok := s.client.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.Ping(ctx).Err()
		})
	} else {
		err = s.client.Ping(ctx).Err()
	}
	return wrapErr("ping", err)
}

// wrapErr prefixes err with the operation and marks it with
// store.ErrUnavailable when it means Redis cannot serve now.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means that Redis cannot be reached or
// cannot serve for now, so that trying again later may succeed: network
// failures and timeouts, and the replies of a server that is loading,
// failing over, out of memory or busy. Other replies of the server (wrong
// password, missing permission, wrong type) and the caller's cancellation
// are not.
func unavailable(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, redis.ErrClosed):
		return false
	case redis.IsLoadingError(err), redis.IsClusterDownError(err), redis.IsTryAgainError(err),
		redis.IsMasterDownError(err), redis.IsReadOnlyError(err), redis.IsMaxClientsError(err),
		redis.IsOOMError(err), redis.HasErrorPrefix(err, "BUSY"):
		return true
	}
	var reply redis.Error
	return !errors.As(err, &reply)
}

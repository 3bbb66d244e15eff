// Package redisstore keeps the sketches in Redis, a single node or a Redis
// Cluster, shared by every transferwatch instance.
//
// # Layout
//
// With the key prefix P (default "tw"):
//
//	P:{<entity>}:y<year>   HASH  one entity-year: its base, the serialized
//	                             parts of a sketch.Year (sketch.Year.Encode:
//	                             s0..s7, c0..c7, imp, flows), with the
//	                             version v of the base; its deltas, each
//	                             part of delta number <seq> under
//	                             d<seq>.<part>; n, the number of the last
//	                             delta, k, how many wait to be folded, and
//	                             id, a random nonce set when the hash is
//	                             created
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
// A flush writes what it adds, not the entity-years it touches: each
// entity-year of the batch is pushed as a delta (the batch's own sketches,
// day curves and flows, which hold only the subjects of that flush) by one
// script that numbers it, without reading anything first. Readers (History)
// merge the base and every delta. Since merging is commutative,
// associative and idempotent, deltas count the same in any order, and a
// batch pushed twice (say, again after an ambiguous failure) counts once.
//
// The flush that leaves foldAt deltas waiting folds them: it reads the
// hash, merges the deltas into the base and writes the base back with a
// compare-and-set script that deletes exactly the deltas it read and
// applies only if the base's version and the hash's nonce are still those
// it read. Deltas pushed meanwhile are other fields and stay; a fold that
// loses to another fold leaves the deltas to it; a fold prepared from a
// hash since lost and created again (a new nonce) changes nothing. A push
// is refused once maxDeltas wait (folds keep failing, say on a base that
// cannot be decoded), so that the flush fails loudly instead of letting
// the hash grow.
//
// Upgrading from a version that merged whole entity-years: its hashes are
// a base with a version and no deltas, which this version reads and folds
// into. Its flushes and this version's folds both compare the version
// before writing the base, so neither overwrites the other. It cannot read
// deltas (its evaluations report them as corrupt data and its decisions go
// stale, closed): replace every instance of it promptly.
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
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// History implements store.Store.
func (s *Store) History(ctx context.Context, entity string, years ...int) (sketch.History, error) {
	h, _, err := s.VersionedHistory(ctx, entity, years...)
	return h, err
}

// VersionedHistory implements store.Store: HGETALL reads each entity-year
// with its stamp token (see yearToken) in one step.
func (s *Store) VersionedHistory(ctx context.Context, entity string, years ...int) (sketch.History, []string, error) {
	if err := checkEntity(entity); err != nil {
		return nil, nil, err
	}
	h := make(sketch.History, len(years))
	tokens := make([]string, len(years))
	if len(years) == 0 {
		return h, tokens, nil
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
		sh, err := parseStored(m)
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: %s: %w", s.yearKey(entity, yr), err)
		}
		y, err := sh.year()
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: %s: %w", s.yearKey(entity, yr), err)
		}
		h[yr] = y
		tokens[i] = yearToken(m[nonceField], m[versionField], m[seqField], m[writeField])
	}
	return h, tokens, nil
}

// yearToken is the stamp of an entity-year hash: its nonce (new when the
// hash is created again, after Redis lost it), the version of its base
// (raised by every write of the base), the number of its last delta
// (raised by every push) and the random tag of the flush that pushed it
// (new with every flush, so that a replay after Redis lost its last writes
// cannot bring the numbers back to a token seen before). What the hash
// holds is its base and its deltas, so equal tokens mean equal contents; a
// fold raises the version without changing them, which costs an
// evaluation, never hides a change. Never empty: a hash with none of the
// fields is "///".
func yearToken(nonce, version, seq, write string) string {
	return nonce + "/" + version + "/" + seq + "/" + write
}

// stampEntities bounds the entities whose stamps one pipeline reads (each
// is len(years)+2 small commands).
const stampEntities = 256

// Stamps implements store.Store: per entity, HMGET of each entity-year's
// nonce, version, last delta number and write tag (see yearToken), HGET of the
// decision record's version and LLEN of the outbox, pipelined (a cluster
// pipeline goes to each node with the keys it holds).
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
			years    []*redis.SliceCmd
			decision *redis.StringCmd
			pending  *redis.IntCmd
		}
		cs := make([]cmds, len(chunk))
		for i, id := range chunk {
			cs[i].years = make([]*redis.SliceCmd, len(years))
			for j, yr := range years {
				cs[i].years[j] = pipe.HMGet(ctx, s.yearKey(id, yr), nonceField, versionField, seqField, writeField)
			}
			cs[i].decision = pipe.HGet(ctx, s.decisionKey(id), "version")
			cs[i].pending = pipe.LLen(ctx, s.outboxKey(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && unavailable(err) {
			return nil, wrapErr("stamps", err)
		}
		for i := range chunk {
			st := store.Stamp{Years: make([]string, len(years))}
			var err error
			for j, c := range cs[i].years {
				if st.Years[j], err = stampToken(c); err != nil {
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

// stampToken reads an entity-year's token for Stamps: "" when the hash is
// absent, a token no read matches when it cannot be read (a key of another
// type); an error only when Redis cannot answer.
func stampToken(c *redis.SliceCmd) (string, error) {
	vals, err := c.Result()
	switch {
	case unavailable(err):
		return "", wrapErr("stamps", err)
	case err != nil:
		return "unreadable", nil // yearToken always holds three slashes
	}
	str := func(v any) string { s, _ := v.(string); return s }
	if vals[0] == nil && vals[1] == nil && vals[2] == nil && vals[3] == nil {
		return "", nil
	}
	return yearToken(str(vals[0]), str(vals[1]), str(vals[2]), str(vals[3])), nil
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

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store"
	"github.com/transferwatch/transferwatch/internal/store/storetest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// open returns a Store closed when the test ends.
func open(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// raw returns a plain client of a single server, to look at the keys.
func raw(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func thisYear() int { return time.Now().UTC().Year() }

func TestConformanceSingleNode(t *testing.T) {
	// Each subtest gets its own server; every open within it a new client.
	var mu sync.Mutex
	servers := make(map[*testing.T]*redistest.Instance)
	storetest.Run(t, func(t *testing.T) store.Store {
		mu.Lock()
		defer mu.Unlock()
		in := servers[t]
		if in == nil {
			in = redistest.Server(t)
			servers[t] = in
		}
		return open(t, Options{Addrs: []string{in.Addr()}})
	})
}

func TestConformanceCluster(t *testing.T) {
	addrs := redistest.Cluster(t, 3)
	// One cluster for all subtests, each under its own key prefix.
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, Options{Addrs: addrs, KeyPrefix: strings.ReplaceAll(t.Name(), "/", ".")})
		if !s.cluster {
			t.Fatal("several addresses did not make a cluster client")
		}
		return s
	})
}

func TestClusterKeyPlacement(t *testing.T) {
	addrs := redistest.Cluster(t, 3)
	s := open(t, Options{Addrs: addrs})
	ctx := t.Context()
	y := thisYear()
	b := make(sketch.Batch)
	var ids []string
	for e := range 60 {
		id := fmt.Sprintf("entity-%02d", e)
		ids = append(ids, id)
		b.Merge(storetest.Subjects{From: e * 100, To: e*100 + 100, Year: func(i int) int { return y - i%2 }}.Batch(id))
	}
	if err := s.Merge(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	// One entity's keys share a slot, so its updates are atomic on one node.
	for _, id := range ids {
		var slots []int64
		for _, k := range []string{s.yearKey(id, y), s.yearKey(id, y-1), s.decisionKey(id), s.outboxKey(id), s.historyKey(id), s.leaseKey(id)} {
			slot, err := c.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			slots = append(slots, slot)
		}
		if slices.Min(slots) != slices.Max(slots) {
			t.Fatalf("keys of %s fall in slots %v", id, slots)
		}
	}
	// Different entities spread over every master.
	var mu sync.Mutex
	var sizes []int64
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		if n == 0 {
			t.Fatalf("keys per master %v: a master holds none", sizes)
		}
	}
	got, err := s.Entities(ctx)
	if err != nil || !slices.Equal(got, ids) {
		t.Fatalf("Entities = %v, %v; want %v", got, err, ids)
	}
}

// roundTrip merges a batch and reads it back through s.
func roundTrip(t *testing.T, s *Store) {
	t.Helper()
	sub := storetest.Subjects{From: 0, To: 500}
	if err := s.Merge(t.Context(), sub.Batch("acme-sh")); err != nil {
		t.Fatalf("Merge: %v", err)
	}
	h, err := s.History(t.Context(), "acme-sh", thisYear())
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	storetest.AssertSameHistory(t, h, sub.History("acme-sh"))
}

func TestAuthPassword(t *testing.T) {
	in := redistest.Server(t, redistest.RequirePass("s3cret")...)
	roundTrip(t, open(t, Options{Addrs: []string{in.Addr()}, Password: "s3cret"}))

	for _, pw := range []string{"", "wrong"} {
		err := open(t, Options{Addrs: []string{in.Addr()}, Password: pw}).Ping(t.Context())
		if err == nil || !redis.IsAuthError(err) {
			t.Errorf("password %q: Ping = %v, want an authentication error", pw, err)
		}
		if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("password %q: %v is marked unavailable; a wrong password does not heal by waiting", pw, err)
		}
	}
}

func TestAuthACLUser(t *testing.T) {
	in := redistest.Server(t, redistest.ACLUser("transferwatch", "pw")...)
	roundTrip(t, open(t, Options{Addrs: []string{in.Addr()}, Username: "transferwatch", Password: "pw"}))
	err := open(t, Options{Addrs: []string{in.Addr()}, Password: "pw"}).Ping(t.Context())
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping without the user name = %v, want an authentication error", err)
	}
}

// TestAuthLeastPrivilege runs the store as an ACL user allowed only the
// commands it needs on its own keys: the permissions an operator grants.
func TestAuthLeastPrivilege(t *testing.T) {
	in := redistest.Server(t,
		"--user", "transferwatch", "on", ">pw", "~tw:*", "resetchannels", "-@all",
		"+ping", "+hello", "+client|setname",
		"+sadd", "+smembers", "+hmget", "+hget", "+hgetall", "+hset", "+hsetnx", "+hincrby", "+hdel", "+pexpireat",
		"+llen", "+lrange", "+lindex", "+rpush", "+lpush", "+ltrim", "+set", "+get", "+del",
		"+evalsha", "+eval",
		"--user", "default", "off")
	s := open(t, Options{Addrs: []string{in.Addr()}, Username: "transferwatch", Password: "pw"})
	roundTrip(t, s)
	ctx := t.Context()
	if ok, err := s.SwapDecision(ctx, "acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "warn"}, []byte("{}")); !ok || err != nil {
		t.Fatalf("SwapDecision = %t, %v", ok, err)
	}
	if ok, err := s.RepairDecision(ctx, "acme-sh", store.Decision{Version: 1}, store.Decision{Version: 3, Decision: "warn"}, []byte("{}")); !ok || err != nil {
		t.Fatalf("RepairDecision = %t, %v", ok, err)
	}
	if d, err := s.Decision(ctx, "acme-sh"); err != nil || d.Pending != 1 {
		t.Fatalf("Decision = %+v, %v", d, err)
	}
	if ok, err := s.LockOutbox(ctx, "acme-sh", "me", time.Minute); !ok || err != nil {
		t.Fatalf("LockOutbox = %t, %v", ok, err)
	}
	ms, err := s.Outbox(ctx, "acme-sh", 10)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Outbox = %v, %v", ms, err)
	}
	if ok, err := s.AckOutbox(ctx, "acme-sh", "me", ms); !ok || err != nil {
		t.Fatalf("AckOutbox = %t, %v", ok, err)
	}
	if err := s.UnlockOutbox(ctx, "acme-sh", "me"); err != nil {
		t.Fatalf("UnlockOutbox: %v", err)
	}
	if _, err := s.LatestMessage(ctx, "acme-sh"); err != nil {
		t.Fatalf("LatestMessage: %v", err)
	}
	if h, err := s.DecisionHistory(ctx, "acme-sh", 10); err != nil || len(h) != 2 {
		t.Fatalf("DecisionHistory = %v, %v", h, err)
	}
	if _, err := s.Entities(ctx); err != nil {
		t.Fatalf("Entities: %v", err)
	}
	// Outside its prefix the user may do nothing.
	other := open(t, Options{Addrs: []string{in.Addr()}, Username: "transferwatch", Password: "pw", KeyPrefix: "other"})
	if err := other.Merge(ctx, storetest.Subjects{From: 0, To: 10}.Batch("acme-sh")); err == nil {
		t.Fatal("Merge outside the permitted keys succeeded")
	} else if errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a permission error is marked unavailable: %v", err)
	}
}

func TestTLS(t *testing.T) {
	in, conf := redistest.TLSServer(t)
	roundTrip(t, open(t, Options{Addrs: []string{in.Addr()}, TLS: conf}))
	if err := open(t, Options{Addrs: []string{in.Addr()}}).Ping(t.Context()); err == nil {
		t.Fatal("Ping without TLS to a TLS-only server succeeded")
	}
}

// TestUnavailable stops Redis under a running store: the failed flush
// reports store.ErrUnavailable, and once Redis is back the kept batch lands
// and nothing is lost.
func TestUnavailable(t *testing.T) {
	// Persist to the append-only file, as a production server does, so a
	// restart keeps the data.
	in := redistest.Server(t, "--appendonly", "yes", "--appendfsync", "always")
	s := open(t, Options{Addrs: []string{in.Addr()}})
	ctx := t.Context()
	first := storetest.Subjects{From: 0, To: 5000}
	second := storetest.Subjects{From: 3000, To: 9000}
	if err := s.Merge(ctx, first.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	kept := second.Batch("acme-sh")

	in.Stop()
	y := thisYear()
	calls := map[string]func() error{
		"Merge": func() error { return s.Merge(ctx, kept) },
		"History": func() error {
			_, err := s.History(ctx, "acme-sh", y)
			return err
		},
		"Entities": func() error {
			_, err := s.Entities(ctx)
			return err
		},
		"Decision": func() error {
			_, err := s.Decision(ctx, "acme-sh")
			return err
		},
		"SwapDecision": func() error {
			_, err := s.SwapDecision(ctx, "acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "warn"}, []byte("{}"))
			return err
		},
		"RepairDecision": func() error {
			_, err := s.RepairDecision(ctx, "acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "warn"}, []byte("{}"))
			return err
		},
		"LatestMessage": func() error {
			_, err := s.LatestMessage(ctx, "acme-sh")
			return err
		},
		"DecisionHistory": func() error {
			_, err := s.DecisionHistory(ctx, "acme-sh", 10)
			return err
		},
		"LockOutbox": func() error {
			_, err := s.LockOutbox(ctx, "acme-sh", "me", time.Minute)
			return err
		},
		"Outbox": func() error {
			_, err := s.Outbox(ctx, "acme-sh", 10)
			return err
		},
		"AckOutbox": func() error {
			_, err := s.AckOutbox(ctx, "acme-sh", "me", []store.Message{{Version: 1}})
			return err
		},
		"UnlockOutbox": func() error { return s.UnlockOutbox(ctx, "acme-sh", "me") },
		"Ping":         func() error { return s.Ping(ctx) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with Redis down = %v, want an error wrapping store.ErrUnavailable", name, err)
		}
	}

	in.Start()
	// After a run of failed dials the client holds back new ones and dials
	// in the background about once a second: wait for it to notice.
	poll.Until(t, 10*time.Second, "the client to reach Redis again", func() bool { return s.Ping(ctx) == nil })
	if err := s.Merge(ctx, kept); err != nil {
		t.Fatalf("Merge after Redis is back: %v", err)
	}
	h, err := s.History(ctx, "acme-sh", y)
	if err != nil {
		t.Fatal(err)
	}
	storetest.AssertSameHistory(t, h, storetest.Subjects{From: 0, To: 9000}.History("acme-sh"))
}

func TestCanceledIsNotUnavailable(t *testing.T) {
	in := redistest.Server(t)
	s := open(t, Options{Addrs: []string{in.Addr()}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Merge(ctx, storetest.Subjects{From: 0, To: 10}.Batch("acme-sh"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Merge with a canceled context = %v, want context.Canceled and not unavailable", err)
	}
}

func TestKeyLayout(t *testing.T) {
	in := redistest.Server(t)
	s := open(t, Options{Addrs: []string{in.Addr()}})
	c := raw(t, in.Addr())
	ctx := t.Context()
	y := thisYear()
	sub := storetest.Subjects{From: 0, To: 2000, Year: func(i int) int { return y - i%2 }}
	b := sub.Batch("acme-sh")
	b[sketch.Key{Entity: "acme-sh", Year: y}].MarkImportant(false)
	b[sketch.Key{Entity: "acme-sh", Year: y - 3}] = storetest.Subjects{From: 0, To: 10}.Batch("x")[sketch.Key{Entity: "x", Year: y}]
	if err := s.Merge(ctx, b); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 2, 0, 1, 0, time.UTC)
	if _, err := s.SwapDecision(ctx, "acme-sh", store.Decision{}, store.Decision{Version: 1, Decision: "warn", DecidedAt: at}, []byte(`{"version":1}`)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.LockOutbox(ctx, "acme-sh", "owner-1", time.Minute); !ok || err != nil {
		t.Fatalf("LockOutbox = %t, %v", ok, err)
	}

	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{
		"tw:entities",
		"tw:{acme-sh}:decision",
		"tw:{acme-sh}:history",
		"tw:{acme-sh}:lease",
		"tw:{acme-sh}:outbox",
		"tw:{acme-sh}:y" + strconv.Itoa(y-1),
		"tw:{acme-sh}:y" + strconv.Itoa(y),
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %q\nwant %q (a year past every window is not written)", keys, want)
	}

	for _, yr := range []int{y - 1, y} {
		key := s.yearKey("acme-sh", yr)
		fields, err := c.HKeys(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		// The first write is a delta: each part of the batch under d1.
		wantFields := []string{"id", "k", "n", "w"}
		for _, f := range b[sketch.Key{Entity: "acme-sh", Year: yr}].Fields() {
			wantFields = append(wantFields, "d1."+f)
		}
		slices.Sort(fields)
		slices.Sort(wantFields)
		if !slices.Equal(fields, wantFields) {
			t.Errorf("%s has fields %q, want %q", key, fields, wantFields)
		}
		at, err := c.Do(ctx, "PEXPIRETIME", key).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if wantAt := time.Date(yr+2, time.January, 1, 0, 0, 0, 0, time.UTC).Add(7 * 24 * time.Hour).UnixMilli(); at != wantAt {
			t.Errorf("%s expires at %s, want %s", key, time.UnixMilli(at).UTC(), time.UnixMilli(wantAt).UTC())
		}
	}
	if ttl, err := c.PTTL(ctx, "tw:{acme-sh}:decision").Result(); err != nil || ttl != -1 {
		t.Errorf("decision TTL = %v, %v; want none", ttl, err)
	}
	if d, err := c.HGetAll(ctx, "tw:{acme-sh}:decision").Result(); err != nil || d["version"] != "1" || d["decision"] != "warn" ||
		d["at"] != strconv.FormatInt(at.UnixMilli(), 10) || d["msg"] != `{"version":1}` || len(d) != 4 {
		t.Errorf("decision hash = %v, %v", d, err)
	}
	for _, list := range []string{"tw:{acme-sh}:outbox", "tw:{acme-sh}:history"} {
		if l, err := c.LRange(ctx, list, 0, -1).Result(); err != nil || !slices.Equal(l, []string{`1:{"version":1}`}) {
			t.Errorf("%s = %q, %v", list, l, err)
		}
	}
	if owner, err := c.Get(ctx, "tw:{acme-sh}:lease").Result(); err != nil || owner != "owner-1" {
		t.Errorf("lease = %q, %v", owner, err)
	}
	if ttl, err := c.PTTL(ctx, "tw:{acme-sh}:lease").Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("lease TTL = %v, %v; want at most a minute", ttl, err)
	}
	if m, err := c.SMembers(ctx, "tw:entities").Result(); err != nil || !slices.Equal(m, []string{"acme-sh"}) {
		t.Errorf("entities = %v, %v", m, err)
	}

	// n numbers the deltas, k counts those waiting, v counts the writes
	// of the base: the foldAt-th delta is folded into the base by the
	// flush that pushed it.
	key := s.yearKey("acme-sh", y)
	hash := func() map[string]string {
		t.Helper()
		m, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := hash(); m["n"] != "1" || m["k"] != "1" || m["v"] != "" {
		t.Fatalf("after one write: n %s, k %s, v %q; want 1, 1 and no version", m["n"], m["k"], m["v"])
	}
	for i := 2; i < foldAt; i++ {
		if err := s.Merge(ctx, storetest.Subjects{From: 5000 + i, To: 5001 + i}.Batch("acme-sh")); err != nil {
			t.Fatal(err)
		}
	}
	if m := hash(); m["k"] != strconv.Itoa(foldAt-1) || m["n"] != strconv.Itoa(foldAt-1) {
		t.Fatalf("after %d writes: k %s, n %s; want %d each", foldAt-1, m["k"], m["n"], foldAt-1)
	}
	if err := s.Merge(ctx, b); err != nil { // a batch already there is a delta too
		t.Fatal(err)
	}
	m := hash()
	if m["v"] != "1" || m["k"] != "0" || m["n"] != strconv.Itoa(foldAt) {
		t.Fatalf("after the fold: v %s, k %s, n %s; want 1, 0, %d", m["v"], m["k"], m["n"], foldAt)
	}
	for f := range m {
		if strings.HasPrefix(f, deltaPrefix) {
			t.Errorf("field %s left after the fold", f)
		}
	}
	for _, f := range b[sketch.Key{Entity: "acme-sh", Year: y}].Fields() {
		if _, ok := m[f]; !ok {
			t.Errorf("base field %s missing after the fold", f)
		}
	}
}

func TestKeyPrefix(t *testing.T) {
	in := redistest.Server(t)
	a := open(t, Options{Addrs: []string{in.Addr()}, KeyPrefix: "prod-a"})
	bs := open(t, Options{Addrs: []string{in.Addr()}, KeyPrefix: "prod-b"})
	ctx := t.Context()
	if err := a.Merge(ctx, storetest.Subjects{From: 0, To: 10}.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	keys, err := raw(t, in.Addr()).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "prod-a:") {
			t.Errorf("key %q lacks the prefix prod-a:", k)
		}
	}
	if ids, err := bs.Entities(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("another prefix sees entities %v, %v", ids, err)
	}
}

func TestCorruptData(t *testing.T) {
	in := redistest.Server(t)
	s := open(t, Options{Addrs: []string{in.Addr()}})
	c := raw(t, in.Addr())
	ctx := t.Context()
	y := thisYear()
	sub := storetest.Subjects{From: 0, To: 100}
	if err := s.Merge(ctx, sub.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	bad := s.yearKey("acme-sh", y)
	if err := c.HSet(ctx, bad, sketch.SketchField(0), "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, s.yearKey("initech", y), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, s.yearKey("hooli", y), "v", "seven").Err(); err != nil {
		t.Fatal(err)
	}

	_, err := s.History(ctx, "acme-sh", y)
	if !errors.Is(err, sketch.ErrCorrupt) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("History of corrupt data = %v, want sketch.ErrCorrupt and not unavailable", err)
	}

	// A flush touching entity-years it cannot write to reports them and
	// lands the rest.
	b := sub.Batch("acme-sh")
	b.Merge(sub.Batch("initech"))
	b.Merge(sub.Batch("hooli"))
	b.Merge(sub.Batch("globex"))
	err = s.Merge(ctx, b)
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Merge into corrupt data = %v, want an error, not unavailable", err)
	}
	for _, k := range []string{s.yearKey("initech", y), s.yearKey("hooli", y)} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("Merge error %q does not name %s", err, k)
		}
	}
	h, err := s.History(ctx, "globex", y)
	if err != nil {
		t.Fatal(err)
	}
	storetest.AssertSameHistory(t, h, sub.History("globex"))

	// A broken base takes deltas (a flush does not read it) until they
	// are folded into it: that flush reports it.
	var foldErr error
	for i := 0; i < foldAt && foldErr == nil; i++ {
		foldErr = s.Merge(ctx, sub.Batch("acme-sh"))
	}
	if !errors.Is(foldErr, sketch.ErrCorrupt) || errors.Is(foldErr, store.ErrUnavailable) || !strings.Contains(foldErr.Error(), bad) {
		t.Fatalf("the flush that folds into a corrupt base = %v, want sketch.ErrCorrupt naming %s", foldErr, bad)
	}
	// Every later flush fails to fold too; at maxDeltas deltas waiting,
	// pushes are refused rather than let the hash grow without bound.
	for range maxDeltas {
		err = s.Merge(ctx, sub.Batch("acme-sh"))
	}
	if err == nil || !strings.Contains(err.Error(), "folding keeps failing") {
		t.Fatalf("Merge with %d deltas waiting = %v, want a refusal", maxDeltas, err)
	}
	if k, err := c.HGet(ctx, bad, countField).Int(); err != nil || k != maxDeltas {
		t.Fatalf("deltas waiting = %d, %v; want %d", k, err, maxDeltas)
	}
}

// TestFoldLosesToConcurrentWrite: a fold prepared from what another writer
// has since changed must not land, or it would write over that writer's
// delta; nor may one prepared from a hash that was since lost and created
// again (Redis restarted empty), or it would delete the new hash's deltas.
func TestFoldLosesToConcurrentWrite(t *testing.T) {
	in := redistest.Server(t)
	a := open(t, Options{Addrs: []string{in.Addr()}})
	b := open(t, Options{Addrs: []string{in.Addr()}})
	c := raw(t, in.Addr())
	ctx := t.Context()
	y := thisYear()
	key := a.yearKey("acme-sh", y)
	foldable := func() []any {
		t.Helper()
		m, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		args, err := foldArgs(m)
		if err != nil || args == nil {
			t.Fatalf("foldArgs = %v, %v", args, err)
		}
		return args
	}
	runFold := func(args []any) int64 {
		t.Helper()
		n, err := foldScript.Run(ctx, c, []string{key}, args...).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A delta pushed between the fold's read and its write stays.
	if err := a.Merge(ctx, storetest.Subjects{From: 0, To: 3000}.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	args := foldable()
	if err := b.Merge(ctx, storetest.Subjects{From: 2000, To: 6000}.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	if n := runFold(args); n != 1 {
		t.Fatal("a fold lost to a delta pushed meanwhile")
	}
	h, err := a.History(ctx, "acme-sh", y)
	if err != nil {
		t.Fatal(err)
	}
	storetest.AssertSameHistory(t, h, storetest.Subjects{From: 0, To: 6000}.History("acme-sh"))
	if k, err := c.HGet(ctx, key, countField).Result(); err != nil || k != "1" {
		t.Fatalf("deltas waiting after the fold = %s, %v; want 1 (the one pushed meanwhile)", k, err)
	}

	// A base written meanwhile (another fold, or a flush of a version
	// before deltas: it raises the version) wins.
	args = foldable()
	if err := c.HIncrBy(ctx, key, versionField, 1).Err(); err != nil {
		t.Fatal(err)
	}
	if n := runFold(args); n != 0 {
		t.Fatal("a fold landed over a base written since its read")
	}

	// The hash is lost and created again before its first fold: the same
	// version (none), another nonce.
	if err := c.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Merge(ctx, storetest.Subjects{From: 7000, To: 7001}.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	args = foldable()
	if err := c.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	third := storetest.Subjects{From: 9000, To: 9500}
	if err := b.Merge(ctx, third.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	if n := runFold(args); n != 0 {
		t.Fatal("a fold prepared before the hash was lost landed in the new one")
	}
	if h, err = a.History(ctx, "acme-sh", y); err != nil {
		t.Fatal(err)
	}
	storetest.AssertSameHistory(t, h, third.History("acme-sh"))
}

// TestOldLayout: an entity-year written before deltas (its parts and v,
// no nonce) reads as it did, takes deltas and folds them.
func TestOldLayout(t *testing.T) {
	in := redistest.Server(t)
	s := open(t, Options{Addrs: []string{in.Addr()}})
	c := raw(t, in.Addr())
	ctx := t.Context()
	y := thisYear()
	old := storetest.Subjects{From: 0, To: 1000}
	enc, err := old.Batch("acme-sh")[sketch.Key{Entity: "acme-sh", Year: y}].Encode()
	if err != nil {
		t.Fatal(err)
	}
	fields := []any{versionField, "3"}
	for f, v := range enc {
		fields = append(fields, f, v)
	}
	key := s.yearKey("acme-sh", y)
	if err := c.HSet(ctx, key, fields...).Err(); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "acme-sh", y)
	if err != nil {
		t.Fatal(err)
	}
	storetest.AssertSameHistory(t, h, old.History("acme-sh"))
	for i := range foldAt {
		if err := s.Merge(ctx, storetest.Subjects{From: 1000 + i*100, To: 1100 + i*100}.Batch("acme-sh")); err != nil {
			t.Fatal(err)
		}
	}
	if k, err := c.HGet(ctx, key, countField).Result(); err != nil || k != "0" {
		t.Fatalf("deltas waiting after %d flushes = %s, %v; want 0 (folded)", foldAt, k, err)
	}
	if h, err = s.History(ctx, "acme-sh", y); err != nil {
		t.Fatal(err)
	}
	storetest.AssertSameHistory(t, h, storetest.Subjects{From: 0, To: 1000 + foldAt*100}.History("acme-sh"))
}

func TestScriptCacheFlushed(t *testing.T) {
	in := redistest.Server(t)
	s := open(t, Options{Addrs: []string{in.Addr()}})
	c := raw(t, in.Addr())
	ctx := t.Context()
	for i := range 3 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.Merge(ctx, storetest.Subjects{From: i * 100, To: i*100 + 100}.Batch("acme-sh")); err != nil {
			t.Fatalf("Merge after SCRIPT FLUSH: %v", err)
		}
		if ok, err := c.ScriptExists(ctx, pushScript.Hash()).Result(); err != nil || !ok[0] {
			t.Fatalf("the merge script is not cached after a merge: %v, %v", ok, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.SwapDecision(ctx, "acme-sh", store.Decision{Version: int64(i)}, store.Decision{Version: int64(i + 1)}, []byte("{}")); !ok || err != nil {
			t.Fatalf("SwapDecision after SCRIPT FLUSH = %t, %v", ok, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.LockOutbox(ctx, "acme-sh", "me", time.Minute); !ok || err != nil {
			t.Fatalf("LockOutbox = %t, %v", ok, err)
		}
		if ok, err := s.AckOutbox(ctx, "acme-sh", "me", []store.Message{{Version: int64(i + 1)}}); !ok || err != nil {
			t.Fatalf("AckOutbox after SCRIPT FLUSH = %t, %v", ok, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.UnlockOutbox(ctx, "acme-sh", "me"); err != nil {
			t.Fatalf("UnlockOutbox after SCRIPT FLUSH: %v", err)
		}
		if n, err := c.Exists(ctx, s.leaseKey("acme-sh")).Result(); err != nil || n != 0 {
			t.Fatalf("lease still held after UnlockOutbox: %d, %v", n, err)
		}
	}
	h, err := s.History(ctx, "acme-sh", thisYear())
	if err != nil {
		t.Fatal(err)
	}
	storetest.AssertSameHistory(t, h, storetest.Subjects{From: 0, To: 300}.History("acme-sh"))
}

func TestInvalidInput(t *testing.T) {
	for _, opts := range []Options{
		{},
		{Addrs: []string{"a:1", "b:1"}, DB: 1},
		{Addrs: []string{"a:1"}, DB: -1},
		{Addrs: []string{"a:1"}, KeyPrefix: "tw{x}"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}

	in := redistest.Server(t)
	s := open(t, Options{Addrs: []string{in.Addr()}})
	ctx := t.Context()
	for _, id := range []string{"", "a{b}", "a b", "é", strings.Repeat("x", 129)} {
		b := sketch.Batch{{Entity: id, Year: thisYear()}: &sketch.Year{}}
		if err := s.Merge(ctx, b); !errors.Is(err, ErrInvalidEntity) {
			t.Errorf("Merge of entity %q = %v, want ErrInvalidEntity", id, err)
		}
		if _, err := s.History(ctx, id, thisYear()); !errors.Is(err, ErrInvalidEntity) {
			t.Errorf("History of entity %q = %v, want ErrInvalidEntity", id, err)
		}
		if _, err := s.Decision(ctx, id); !errors.Is(err, ErrInvalidEntity) {
			t.Errorf("Decision of entity %q = %v, want ErrInvalidEntity", id, err)
		}
	}
	if _, err := s.SwapDecision(ctx, "acme-sh", store.Decision{Version: 3}, store.Decision{Version: 3}, nil); !errors.Is(err, store.ErrVersionOrder) {
		t.Errorf("SwapDecision to the same version = %v, want ErrVersionOrder", err)
	}
	for _, id := range []string{"", "a{b}"} {
		if _, err := s.SwapDecision(ctx, id, store.Decision{}, store.Decision{Version: 1}, nil); !errors.Is(err, ErrInvalidEntity) {
			t.Errorf("SwapDecision of entity %q = %v, want ErrInvalidEntity", id, err)
		}
		if _, err := s.LockOutbox(ctx, id, "me", time.Minute); !errors.Is(err, ErrInvalidEntity) {
			t.Errorf("LockOutbox of entity %q = %v, want ErrInvalidEntity", id, err)
		}
		if _, err := s.Outbox(ctx, id, 1); !errors.Is(err, ErrInvalidEntity) {
			t.Errorf("Outbox of entity %q = %v, want ErrInvalidEntity", id, err)
		}
	}
	if ids, err := s.Entities(ctx); err != nil || len(ids) != 0 {
		t.Errorf("Entities after invalid merges = %v, %v; want none", ids, err)
	}
}

func TestUnavailableClassification(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{redis.ErrPoolTimeout, true},
		{redis.ErrClosed, false},
		{fmt.Errorf("dial tcp: %w", errors.New("connection refused")), true},
	} {
		if got := unavailable(tc.err); got != tc.want {
			t.Errorf("unavailable(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
	// Replies of a live server, by prefix.
	in := redistest.Server(t)
	c := raw(t, in.Addr())
	ctx := t.Context()
	if err := c.Set(ctx, "s", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HGet(ctx, "s", "f").Err(); err == nil || unavailable(err) {
		t.Errorf("WRONGTYPE reply %v classified unavailable", err)
	}
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "t", strings.Repeat("x", 1<<20), 0).Err(); err == nil || !unavailable(err) {
		t.Errorf("OOM reply %v not classified unavailable", err)
	}
}

// TestStampAfterLostWrites: a Redis that lost its last writes (restarted
// from a snapshot, or a replica promoted) and then took other deltas under
// the same numbers gives another stamp, though the nonce, n and v came
// back to what a stamp saw: otherwise a round would re-confirm a status
// computed from figures the store no longer holds.
func TestStampAfterLostWrites(t *testing.T) {
	in := redistest.Server(t)
	s := open(t, Options{Addrs: []string{in.Addr()}})
	c := raw(t, in.Addr())
	ctx := t.Context()
	y := thisYear()
	key := s.yearKey("acme-sh", y)
	stamp := func() (string, string) {
		t.Helper()
		st, err := s.Stamps(ctx, []string{"acme-sh"}, y)
		if err != nil {
			t.Fatal(err)
		}
		_, tokens, err := s.VersionedHistory(ctx, "acme-sh", y)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Years[0] != tokens[0] {
			t.Fatalf("Stamps gives %q, VersionedHistory %q for the same hash", st[0].Years[0], tokens[0])
		}
		n, err := c.HGet(ctx, key, seqField).Result()
		if err != nil {
			t.Fatal(err)
		}
		return st[0].Years[0], n
	}
	if err := s.Merge(ctx, storetest.Subjects{From: 0, To: 100}.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	snapshot, err := c.Dump(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Merge(ctx, storetest.Subjects{From: 100, To: 200}.Batch("acme-sh")); err != nil {
		t.Fatal(err)
	}
	seen, seenN := stamp()
	if err := c.RestoreReplace(ctx, key, 0, snapshot).Err(); err != nil { // the last write lost
		t.Fatal(err)
	}
	if err := s.Merge(ctx, storetest.Subjects{From: 500, To: 900}.Batch("acme-sh")); err != nil { // replayed otherwise
		t.Fatal(err)
	}
	now, nowN := stamp()
	if nowN != seenN {
		t.Fatalf("the test wants n back at %s, got %s", seenN, nowN)
	}
	if now == seen {
		t.Fatalf("the stamp %q came back after the store lost a write and took another", now)
	}
}

package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestServerStopStartSamePort(t *testing.T) {
	in := Server(t)
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: in.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	in.Stop()
	if conn, err := net.Dial("tcp", in.Addr()); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Stop", in.Addr())
	}
	in.Stop() // idempotent

	addr := in.Addr()
	in.Start()
	if in.Addr() != addr {
		t.Fatalf("restarted on %s, want the same address %s", in.Addr(), addr)
	}
	if got, err := c.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING after restart = %q, %v", got, err)
	}
	// Nothing is persisted: a restart starts empty.
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after restart: %v, want redis.Nil", err)
	}
	in.Start() // starting a running server does nothing
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestServerNoPersistence(t *testing.T) {
	in := Server(t)
	for param, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1"} {
		c := redis.NewClient(&redis.Options{Addr: in.Addr()})
		got, err := c.ConfigGet(t.Context(), param).Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got[param] != want {
			t.Errorf("CONFIG GET %s = %q, want %q", param, got[param], want)
		}
	}
}

func TestRequirePass(t *testing.T) {
	in := Server(t, RequirePass("s3cret")...)
	ctx := t.Context()
	anon := redis.NewClient(&redis.Options{Addr: in.Addr()})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); !redis.IsAuthError(err) {
		t.Fatalf("PING without password: %v, want an authentication error", err)
	}
	c := redis.NewClient(&redis.Options{Addr: in.Addr(), Password: "s3cret"})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
}

func TestACLUser(t *testing.T) {
	in := Server(t, ACLUser("transferwatch", "pw")...)
	ctx := t.Context()
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{"", "", false},
		{"transferwatch", "wrong", false},
		{"default", "", false},
		{"transferwatch", "pw", true},
	} {
		c := redis.NewClient(&redis.Options{Addr: in.Addr(), Username: tc.user, Password: tc.pass})
		err := c.Set(ctx, "k", "v", 0).Err()
		c.Close()
		if (err == nil) != tc.ok {
			t.Errorf("user %q password %q: SET = %v, want success %t", tc.user, tc.pass, err, tc.ok)
		}
	}
}

func TestTLSServer(t *testing.T) {
	in, conf := TLSServer(t)
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: in.Addr(), TLSConfig: conf})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	plain := redis.NewClient(&redis.Options{Addr: in.Addr(), MaxRetries: -1})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("plain-text PING to a TLS-only server succeeded")
	}
	// The CA is the test's own: a client trusting only the system roots
	// refuses the certificate.
	untrusting := conf.Clone()
	untrusting.RootCAs = nil
	sys := redis.NewClient(&redis.Options{Addr: in.Addr(), TLSConfig: untrusting, MaxRetries: -1})
	defer sys.Close()
	if err := sys.Ping(ctx).Err(); err == nil {
		t.Fatal("a client not trusting the test CA connected")
	}

	in.Stop()
	in.Start()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING over TLS after restart: %v", err)
	}
}

func TestCluster(t *testing.T) {
	addrs := Cluster(t, 3)
	if len(addrs) != 3 {
		t.Fatalf("Cluster returned %d addresses, want 3", len(addrs))
	}
	ctx := t.Context()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	// Keys spread over every master: each must own some of them.
	for i := range 100 {
		if err := c.Set(ctx, fmt.Sprint("key-", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	owners := 0
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if n > 0 {
			mu.Lock()
			owners++
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if owners != 3 {
		t.Fatalf("%d masters hold keys, want 3", owners)
	}
	for _, a := range addrs {
		info, err := command(a, nil, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			t.Fatalf("CLUSTER INFO on %s = %q, %v", a, info, err)
		}
	}
}

// fatalTB records the message of Fatalf and ends the goroutine, as
// testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinaryTellsHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Server(f)
		t.Error("Server returned without redis-server on PATH")
	}()
	<-done
	if !strings.Contains(f.msg, "install redis-server: make deps") {
		t.Fatalf("failure message %q does not say how to install redis-server", f.msg)
	}
}

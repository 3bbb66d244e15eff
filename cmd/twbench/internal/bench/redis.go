package bench

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/transferwatch/transferwatch/internal/testutil/redistest"
)

// redisServer is a redis-server child process on a free loopback port that
// keeps nothing on disk (redistest.Launch, as the tests start theirs).
type redisServer struct {
	inst   *redistest.Instance
	dir    string
	addr   string
	client *redis.Client
}

// startRedis starts redis-server and waits until it answers PING.
func startRedis(context.Context) (*redisServer, error) {
	dir, err := os.MkdirTemp("", "twbench-redis")
	if err != nil {
		return nil, err
	}
	inst, err := redistest.Launch(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &redisServer{inst: inst, dir: dir, addr: inst.Addr(), client: redis.NewClient(&redis.Options{Addr: inst.Addr()})}, nil
}

// stop stops the server and removes its directory.
func (s *redisServer) stop() {
	s.client.Close()
	s.inst.Stop()
	os.RemoveAll(s.dir)
}

// usedMemory returns INFO memory's used_memory.
func (s *redisServer) usedMemory(ctx context.Context) (int64, error) {
	info, err := s.client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO memory")
}

// cpuSeconds returns the user+system CPU time redis-server has used
// (INFO cpu), or 0 if it does not answer.
func (s *redisServer) cpuSeconds(ctx context.Context) float64 {
	info, err := s.client.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	total := 0.0
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total
}

// netBytes returns INFO stats' total_net_input_bytes and
// total_net_output_bytes: what redis-server received and sent, every client
// together (0, 0 if it does not answer).
func (s *redisServer) netBytes(ctx context.Context) (in, out int64) {
	info, err := s.client.Info(ctx, "stats").Result()
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "total_net_input_bytes":
			in, _ = strconv.ParseInt(v, 10, 64)
		case "total_net_output_bytes":
			out, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return in, out
}

// keyMemory returns the total MEMORY USAGE of the keys of the workload's
// entities (starting with prefix, not those of the probes), and how many of
// those are entity-year keys (ending in :y and a year).
func (s *redisServer) keyMemory(ctx context.Context, prefix string) (bytes int64, entityYears int, err error) {
	var keys []string
	iter := s.client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		if !strings.Contains(iter.Val(), "{probe-") {
			keys = append(keys, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		return 0, 0, err
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.MemoryUsage(ctx, k, 0)
	}
	if len(keys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return 0, 0, err
		}
	}
	seen := make(map[string]bool) // entity and year: the batched baseline keeps a key per counter
	for i, k := range keys {
		if cmds[i].Err() != nil {
			continue // gone since the scan: a lease lapsed
		}
		bytes += cmds[i].Val()
		if j := strings.LastIndex(k, ":y"); j >= 0 {
			if _, err := strconv.Atoi(k[j+2:]); err == nil {
				entity, _, _ := strings.Cut(k, "}")
				seen[entity+k[j:]] = true
			}
		}
	}
	return bytes, len(seen), nil
}

package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/transferwatch/transferwatch/internal/store"
)

// Offsets and accepted losses, beside the sketches (see the package doc):
//
//	P:offsets:<group>:<topic>  HASH  partition → next offset the figures cover
//	P:losses:<group>:<topic>   LIST  JSON store.Loss, oldest first
//
// The offsets of one consumer group and topic are one hash, so that
// recording a flush's offsets is one atomic step on a cluster too.

func (s *Store) offsetsKey(group, topic string) string {
	return s.prefix + ":offsets:" + group + ":" + topic
}

func (s *Store) lossesKey(group, topic string) string {
	return s.prefix + ":losses:" + group + ":" + topic
}

// recordOffsetsScript checks, for every triple (partition, floor, next) of
// ARGV, that the stored offset (-1 if absent) is at least floor; if any is
// not, it returns the flat list partition, stored of those and writes
// nothing. Otherwise it raises every stored offset to next and returns an
// empty list.
var recordOffsetsScript = redis.NewScript(`
local behind = {}
for i = 1, #ARGV, 3 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if cur < tonumber(ARGV[i+1]) then
    table.insert(behind, ARGV[i])
    table.insert(behind, tostring(cur))
  end
end
if #behind > 0 then
  return behind
end
for i = 1, #ARGV, 3 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i+2]) > cur then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+2])
  end
end
return behind
`)

// raiseOffsetsScript raises every stored offset to the pairs (partition,
// offset) of ARGV.
var raiseOffsetsScript = redis.NewScript(`
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i+1]) > cur then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  end
end
return 1
`)

// Offsets implements store.Store.
func (s *Store) Offsets(ctx context.Context, group, topic string) (map[int]int64, error) {
	m, err := s.client.HGetAll(ctx, s.offsetsKey(group, topic)).Result()
	if err != nil {
		return nil, wrapErr("offsets", err)
	}
	out := make(map[int]int64, len(m))
	for f, v := range m {
		p, err1 := strconv.Atoi(f)
		off, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil || p < 0 || off < 0 {
			return nil, fmt.Errorf("redisstore: %s: bad field %q = %q", s.offsetsKey(group, topic), f, v)
		}
		out[p] = off
	}
	return out, nil
}

// RecordOffsets implements store.Store.
func (s *Store) RecordOffsets(ctx context.Context, group, topic string, next, floors map[int]int64) error {
	if len(next) == 0 && len(floors) == 0 {
		return nil
	}
	args := make([]any, 0, 3*(len(next)+len(floors)))
	for p, off := range next {
		floor, ok := floors[p]
		if !ok {
			floor = store.NoOffset
		}
		args = append(args, strconv.Itoa(p), strconv.FormatInt(floor, 10), strconv.FormatInt(off, 10))
	}
	for p, floor := range floors {
		if _, ok := next[p]; !ok {
			// Checked only: raising to NoOffset changes nothing.
			args = append(args, strconv.Itoa(p), strconv.FormatInt(floor, 10), strconv.FormatInt(store.NoOffset, 10))
		}
	}
	res, err := recordOffsetsScript.Run(ctx, s.client, []string{s.offsetsKey(group, topic)}, args...).StringSlice()
	if err != nil {
		return wrapErr("record offsets", err)
	}
	if len(res) == 0 {
		return nil
	}
	e := &store.OffsetsBehindError{Stored: make(map[int]int64), Expected: make(map[int]int64)}
	for i := 0; i+1 < len(res); i += 2 {
		p, _ := strconv.Atoi(res[i])
		cur, _ := strconv.ParseInt(res[i+1], 10, 64)
		e.Stored[p], e.Expected[p] = cur, floors[p]
	}
	return e
}

// AcceptLoss implements store.Store.
func (s *Store) AcceptLoss(ctx context.Context, group, topic string, loss store.Loss) error {
	data, err := json.Marshal(loss)
	if err != nil {
		return err
	}
	// The record first: a loss raised but not recorded would be silent.
	if err := s.client.RPush(ctx, s.lossesKey(group, topic), data).Err(); err != nil {
		return wrapErr("accept loss", err)
	}
	args := make([]any, 0, 2*len(loss.Partitions))
	for _, r := range loss.Partitions {
		args = append(args, strconv.Itoa(r.Partition), strconv.FormatInt(r.To, 10))
	}
	if len(args) == 0 {
		return nil
	}
	return wrapErr("accept loss", raiseOffsetsScript.Run(ctx, s.client, []string{s.offsetsKey(group, topic)}, args...).Err())
}

// Losses implements store.Store.
func (s *Store) Losses(ctx context.Context, group, topic string) ([]store.Loss, error) {
	vals, err := s.client.LRange(ctx, s.lossesKey(group, topic), 0, -1).Result()
	if err != nil {
		return nil, wrapErr("losses", err)
	}
	out := make([]store.Loss, 0, len(vals))
	for _, v := range vals {
		var l store.Loss
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			return nil, fmt.Errorf("redisstore: %s: %w", s.lossesKey(group, topic), err)
		}
		out = append(out, l)
	}
	return out, nil
}

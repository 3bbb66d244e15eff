package bench

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxMessageBytes is the broker's batch limit, as in internal/kafkatest.
const maxMessageBytes = 4 << 20

// broker is the in-process kfake cluster. It watches the requests of the
// consumers: when a group first asks for its committed offsets (it has
// joined and is about to fetch) and every offset commit, with the time the
// broker received it. The harness measures throughput and the delay of
// transferwatch from these, the same way for every variant.
type broker struct {
	*kfake.Cluster

	mu     sync.Mutex
	groups map[string]*groupWatch
}

// groupWatch is what the broker saw of one consumer group.
type groupWatch struct {
	joined time.Time // first OffsetFetch
	// commits holds, by partition, every commit that moved the committed
	// offset forward, in arrival order (so with rising offsets).
	commits map[int32][]commitSeen
}

// commitSeen is one partition's offset in one commit request.
type commitSeen struct {
	at     time.Time
	offset int64 // the next offset to read
}

// firstCovering returns when the commits cs first covered offset o (an
// offset above o was committed), or zero.
func firstCovering(cs []commitSeen, o int64) time.Time {
	i := sort.Search(len(cs), func(i int) bool { return cs[i].offset > o })
	if i == len(cs) {
		return time.Time{}
	}
	return cs[i].at
}

func newBroker(topics ...string) (*broker, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(maxMessageBytes)}))
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	b := &broker{Cluster: c, groups: make(map[string]*groupWatch)}
	c.ControlKey(int16(kmsg.OffsetFetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
		now := time.Now()
		req := r.(*kmsg.OffsetFetchRequest)
		groups := []string{req.Group}
		for _, g := range req.Groups {
			groups = append(groups, g.Group)
		}
		b.mu.Lock()
		for _, g := range groups {
			if w := b.groups[g]; w != nil && w.joined.IsZero() {
				w.joined = now
			}
		}
		b.mu.Unlock()
		return nil, nil, false
	})
	c.ControlKey(int16(kmsg.OffsetCommit), func(r kmsg.Request) (kmsg.Response, error, bool) {
		now := time.Now()
		req := r.(*kmsg.OffsetCommitRequest)
		b.mu.Lock()
		if w := b.groups[req.Group]; w != nil {
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					cs := w.commits[p.Partition]
					if len(cs) == 0 || p.Offset > cs[len(cs)-1].offset {
						w.commits[p.Partition] = append(cs, commitSeen{at: now, offset: p.Offset})
					}
				}
			}
		}
		b.mu.Unlock()
		return nil, nil, false
	})
	return b, nil
}

// Addr returns the bootstrap address.
func (b *broker) Addr() string { return b.ListenAddrs()[0] }

// watch starts recording what group does.
func (b *broker) watch(group string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.groups[group] = &groupWatch{commits: make(map[int32][]commitSeen)}
}

// joined returns when group first fetched its offsets (zero if not yet).
func (b *broker) joined(group string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.groups[group].joined
}

// covered returns when group's commits first covered every offset below
// ends (by partition), or zero if they do not yet.
func (b *broker) covered(group string, ends map[int32]int64) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.groups[group]
	var at time.Time
	for p, end := range ends {
		if end == 0 {
			continue
		}
		t := firstCovering(w.commits[p], end-1)
		if t.IsZero() {
			return time.Time{}
		}
		if t.After(at) {
			at = t
		}
	}
	return at
}

// committedAt returns, for each message (partition, offset), when a commit
// of group first covered it; zero where none did.
func (b *broker) committedAt(group string, msgs []sent) []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.groups[group]
	out := make([]time.Time, len(msgs))
	for i, m := range msgs {
		out[i] = firstCovering(w.commits[m.partition], m.offset)
	}
	return out
}

// createTopic creates topic with n partitions.
func (b *broker) createTopic(ctx context.Context, topic string, n int) error {
	cl := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: n, ReplicationFactor: 1,
	}}})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// deleteTopic deletes topic, so that the broker frees its records.
func (b *broker) deleteTopic(ctx context.Context, topic string) error {
	cl := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	resp, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return nil
}

// sent is one message of the latency phase as the broker acknowledged it.
type sent struct {
	partition int32
	offset    int64
	published time.Time
}

// Package kafkatest starts an in-process Kafka-protocol cluster (kfake) for
// tests and gives them small helpers to produce and read records with
// kafka-go, a different client from the broker's own. The cluster is closed
// by t.Cleanup.
package kafkatest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Cluster is a running in-process cluster.
type Cluster struct {
	*kfake.Cluster
	t testing.TB
}

// MaxMessageBytes is the broker's batch size limit: above the event limit
// of 1 MiB, so that tests can send an oversized event and see transferwatch
// reject it, as a real broker configured for large messages would let it
// through.
const MaxMessageBytes = 4 << 20

// New starts a one-broker cluster with the topics seeded at the given
// partition count.
func New(t testing.TB, partitions int32, topics ...string) *Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(MaxMessageBytes)}))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, t: t}
}

// Addr returns the bootstrap address.
func (c *Cluster) Addr() string { return c.ListenAddrs()[0] }

// Produce writes msgs to topic with kafka-go and waits for all of them to
// be acknowledged. Messages with a key go to the key's partition.
func (c *Cluster) Produce(topic string, msgs ...kafka.Message) {
	c.t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(c.Addr()),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		BatchTimeout: time.Millisecond,
		BatchSize:    1000,
		BatchBytes:   MaxMessageBytes,
		RequiredAcks: kafka.RequireAll,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		c.t.Fatalf("produce to %s: %v", topic, err)
	}
}

// ReadAll reads topic from the start with a plain partition reader per
// partition until it holds n records or the timeout passes, and returns what
// it read. It never joins a group, so it does not disturb consumers.
func (c *Cluster) ReadAll(topic string, n int, timeout time.Duration) []kafka.Message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", c.Addr())
	if err != nil {
		c.t.Fatalf("dial: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		c.t.Fatalf("partitions of %s: %v", topic, err)
	}
	out := make(chan kafka.Message)
	for _, p := range parts {
		go func() {
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: []string{c.Addr()}, Topic: topic, Partition: p.ID,
				MaxWait: 50 * time.Millisecond,
			})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var got []kafka.Message
	for len(got) < n {
		select {
		case m := <-out:
			got = append(got, m)
		case <-ctx.Done():
			return got
		}
	}
	return got
}

// Committed returns the group's committed offset of each partition of
// topic (-1 where none).
func (c *Cluster) Committed(group, topic string) map[int]int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", c.Addr())
	if err != nil {
		c.t.Fatalf("dial: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		c.t.Fatalf("partitions of %s: %v", topic, err)
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = p.ID
	}
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr())}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		c.t.Fatalf("offset fetch: %v", err)
	}
	out := make(map[int]int64)
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// Assignments returns, for a stable group, how many partitions each member
// holds; nil while the group is rebalancing or empty.
func (c *Cluster) Assignments(group string) []int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr())}
	resp, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" {
		return nil
	}
	var out []int
	for _, m := range resp.Groups[0].Members {
		n := 0
		for _, tp := range m.MemberAssignments.Topics {
			n += len(tp.Partitions)
		}
		out = append(out, n)
	}
	return out
}

// Package kafkatest starts an in-process Kafka-protocol cluster (kfake) for
// tests and gives them small helpers to produce and read records with
// kafka-go, a different client from the broker's own. The cluster can
// require TLS and SASL, and can persist its state so that a test can stop
// it and start it again. The cluster is closed by t.Cleanup.
package kafkatest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
)

// Cluster is a running in-process cluster.
type Cluster struct {
	*kfake.Cluster
	t    testing.TB
	o    Options
	addr string

	tls  *tls.Config    // of the helpers' clients
	sasl sasl.Mechanism // of the helpers' clients
	tr   *kafka.Transport
}

// MaxMessageBytes is the broker's batch size limit: above the event limit
// of 1 MiB, so that tests can send an oversized event and see transferwatch
// reject it, as a real broker configured for large messages would let it
// through.
const MaxMessageBytes = 4 << 20

// SASL mechanisms, as kfake names them.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// User is a SASL user of the cluster.
type User struct {
	Mechanism string // Plain, ScramSHA256 or ScramSHA512
	Name      string
	Password  string
}

// Options of a cluster. The zero value is a one-broker, plain-text cluster
// without topics.
type Options struct {
	// Partitions of each seeded topic.
	Partitions int32
	// Topics are created at start.
	Topics []string
	// ServerTLS, when set, makes the broker accept TLS connections only;
	// the helpers then dial with ClientTLS.
	ServerTLS, ClientTLS *tls.Config
	// Users, when set, make the broker require SASL. The helpers
	// authenticate as the first; each user is a superuser.
	Users []User
	// DataDir, when set, persists the cluster's state (topics, records,
	// committed offsets, users) there, so that Restart resumes it.
	DataDir string
}

// New starts a one-broker cluster with the topics seeded at the given
// partition count.
func New(t testing.TB, partitions int32, topics ...string) *Cluster {
	t.Helper()
	return Start(t, Options{Partitions: partitions, Topics: topics})
}

// Start starts a one-broker cluster with the given options.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, o: o, tls: o.ClientTLS}
	if len(o.Users) > 0 {
		m, err := Mechanism(o.Users[0])
		if err != nil {
			t.Fatalf("kafkatest: %v", err)
		}
		c.sasl = m
	}
	c.start(0)
	return c
}

// start starts kfake on port (0: any) and the helpers' transport.
func (c *Cluster) start(port int) {
	c.t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(c.o.Partitions, c.o.Topics...),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(MaxMessageBytes)}),
	}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	if c.o.ServerTLS != nil {
		opts = append(opts, kfake.TLS(c.o.ServerTLS))
	}
	if len(c.o.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range c.o.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if c.o.DataDir != "" {
		opts = append(opts, kfake.DataDir(c.o.DataDir))
	}
	// The port of a cluster just closed may stay busy for a moment.
	poll.Until(c.t, 10*time.Second, "the broker's port free", func() bool {
		kc, err := kfake.NewCluster(opts...)
		if port != 0 && errors.Is(err, syscall.EADDRINUSE) {
			return false
		}
		if err != nil {
			c.t.Fatalf("kfake: %v", err)
		}
		c.Cluster = kc
		return true
	})
	c.t.Cleanup(c.Close)
	c.addr = c.ListenAddrs()[0]
	c.tr = &kafka.Transport{DialTimeout: 10 * time.Second, TLS: c.tls, SASL: c.sasl}
	c.t.Cleanup(c.tr.CloseIdleConnections)
}

// Stop closes the broker, as a broker that goes away: clients connected
// see their connections close and new ones are refused. With a DataDir the
// state is saved first, so that Restart resumes it.
func (c *Cluster) Stop() {
	c.tr.CloseIdleConnections()
	c.Close()
}

// Restart starts the broker again after Stop, on the same address and,
// with a DataDir, with the state it had.
func (c *Cluster) Restart() {
	c.t.Helper()
	_, port, err := net.SplitHostPort(c.addr)
	if err != nil {
		c.t.Fatalf("kafkatest: %v", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		c.t.Fatalf("kafkatest: %v", err)
	}
	c.start(p)
}

// Addr returns the bootstrap address. It stays the same across Restart.
func (c *Cluster) Addr() string { return c.addr }

// Dialer returns a dialer with the cluster's client TLS and SASL settings.
func (c *Cluster) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: c.tls, SASLMechanism: c.sasl}
}

// Transport returns the transport the helpers use, with the cluster's
// client TLS and SASL settings.
func (c *Cluster) Transport() *kafka.Transport { return c.tr }

// Mechanism returns the kafka-go SASL mechanism that authenticates as u.
func Mechanism(u User) (sasl.Mechanism, error) {
	switch u.Mechanism {
	case Plain:
		return plain.Mechanism{Username: u.Name, Password: u.Password}, nil
	case ScramSHA256:
		return scram.Mechanism(scram.SHA256, u.Name, u.Password)
	case ScramSHA512:
		return scram.Mechanism(scram.SHA512, u.Name, u.Password)
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", u.Mechanism)
}

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
		Transport:    c.tr,
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
	out := make(chan kafka.Message)
	for _, id := range c.partitions(ctx, topic) {
		go func() {
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: []string{c.Addr()}, Topic: topic, Partition: id,
				MaxWait: 50 * time.Millisecond,
				Dialer:  c.Dialer(),
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

// partitions returns the partition ids of topic.
func (c *Cluster) partitions(ctx context.Context, topic string) []int {
	c.t.Helper()
	conn, err := c.Dialer().DialContext(ctx, "tcp", c.Addr())
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
	return ids
}

// Committed returns the group's committed offset of each partition of
// topic (-1 where none, and for every partition of a group the broker does
// not know).
func (c *Cluster) Committed(group, topic string) map[int]int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := c.partitions(ctx, topic)
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr()), Transport: c.tr}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	out := make(map[int]int64)
	if errors.Is(err, kafka.GroupIdNotFound) {
		// A group that never committed, as kfake answers for it.
		for _, id := range ids {
			out[id] = -1
		}
		return out
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		c.t.Fatalf("offset fetch: %v", err)
	}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// Commit commits offsets of topic's partitions for group the way a
// standalone consumer or an admin tool does: outside any generation, so the
// group must have no members.
func (c *Cluster) Commit(group, topic string, offsets map[int]int64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &kafka.OffsetCommitRequest{
		Addr:         kafka.TCP(c.Addr()),
		GroupID:      group,
		GenerationID: -1,
		Topics:       map[string][]kafka.OffsetCommit{},
	}
	for p, off := range offsets {
		req.Topics[topic] = append(req.Topics[topic], kafka.OffsetCommit{Partition: p, Offset: off})
	}
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr()), Transport: c.tr}
	resp, err := cl.OffsetCommit(ctx, req)
	if err != nil {
		c.t.Fatalf("offset commit: %v", err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			c.t.Fatalf("offset commit of partition %d: %v", p.Partition, p.Error)
		}
	}
}

// RefuseCommits makes the broker close the connection on which an
// OffsetCommit request arrives, without applying it, from now until Stop,
// as a broker on its way down may. It returns a function that reports how
// many commits it refused so far.
func (c *Cluster) RefuseCommits() func() int {
	var n atomic.Int64
	kc := c.Cluster // this incarnation, not the one Restart makes
	kc.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		n.Add(1)
		return nil, errors.New("kafkatest: commit refused"), true
	})
	return func() int { return int(n.Load()) }
}

// Assignments returns, for a stable group, how many partitions each member
// holds; nil while the group is rebalancing or empty.
func (c *Cluster) Assignments(group string) []int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(c.Addr()), Transport: c.tr}
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

// DeleteRecords deletes the records of one partition of topic below
// offset, as retention would: afterwards the partition's oldest offset is
// offset.
func (c *Cluster) DeleteRecords(topic string, partition int32, offset int64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := []kgo.Opt{kgo.SeedBrokers(c.Addr())}
	if c.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(c.tls))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.t.Fatalf("kafkatest: %v", err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10_000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		c.t.Fatalf("kafkatest: delete records: %v", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				c.t.Fatalf("kafkatest: delete records of %s/%d: %v", t.Topic, p.Partition, err)
			}
		}
	}
}

package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/transferwatch/transferwatch/internal/config"
)

// Demo defaults.
const (
	// DefaultHTTPAddr is where the demo serves when neither --http-addr nor
	// TW_HTTP_ADDR says otherwise; a free port is used if it is busy.
	DefaultHTTPAddr = "localhost:8080"
	// DefaultBrokerPort is the port of the in-process broker when free.
	DefaultBrokerPort = 9092
	// EventPartitions is the partition count of the events topic.
	EventPartitions = 3
	// FlushInterval is the demo's flush interval (the service's default is 1s).
	FlushInterval = 500 * time.Millisecond
	// RedisKeyPrefix keeps the demo's keys apart from a real service's when
	// TW_REDIS_ADDRS points the demo at a shared Redis.
	RedisKeyPrefix = "tw-demo"
	// demoSubjectKey is the fixed subject hashing key of the demo: exactly
	// 16 bytes. It is public, so anything hashed with it is not protected.
	demoSubjectKey = "transferwatch-dm"
)

// setup is the demo's configuration and what the view tells about it.
type setup struct {
	cfg *config.Config
	// stories are the demo's entities, with approval dates relative to
	// today in the configured time zone.
	stories []story
	// redis: TW_REDIS_ADDRS is set, the sketches go to cfg.Redis.
	redis bool
	// demoKey: no subject key was given; the fixed demo key is in use.
	demoKey bool
	// ignoredBrokers: TW_KAFKA_BROKERS or kafka.brokers named a Kafka the
	// demo does not use.
	ignoredBrokers bool
	// httpExplicit: the HTTP address came from --http-addr, TW_HTTP_ADDR or
	// the configuration file, so a busy port is an error, not a fallback.
	httpExplicit bool
}

// loadConfig builds the demo's configuration: config.Default() (or the
// file at o.ConfigPath) with the environment applied, the demo's entities
// added, the in-process broker's address to be filled in, and a subject
// key (the fixed demo key when none was given).
func loadConfig(o Options, now time.Time) (*setup, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var cfg *config.Config
	s := &setup{}
	if o.ConfigPath == "" {
		cfg = config.Default()
		cfg.FlushInterval = FlushInterval
		cfg.Redis.KeyPrefix = RedisKeyPrefix
		cfg.HTTP.Addr = DefaultHTTPAddr
	} else {
		data, err := os.ReadFile(o.ConfigPath)
		if err != nil {
			return nil, err
		}
		if cfg, err = config.Parse(data); err != nil {
			return nil, fmt.Errorf("%s: %w", o.ConfigPath, err)
		}
		s.httpExplicit = true
	}
	s.ignoredBrokers = getenv(config.EnvKafkaBrokers) != ""
	s.httpExplicit = s.httpExplicit || getenv(config.EnvHTTPAddr) != ""
	var errs []error
	errs = append(errs, cfg.ApplyEnv(getenv))

	// The in-process broker: plain TCP on localhost. Its address is known
	// once it listens; this placeholder only passes validation.
	cfg.Kafka.Brokers = []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultBrokerPort))}
	cfg.Kafka.TLS = config.KafkaTLS{}
	cfg.Kafka.SASL = config.SASL{}
	if o.HTTPAddr != "" {
		cfg.HTTP.Addr = o.HTTPAddr
		s.httpExplicit = true
	}
	s.redis = getenv(config.EnvRedisAddrs) != ""

	// The demo's entities, unless the file already registers one. Their
	// approval dates are relative to today in the configured time zone (an
	// unknown zone is reported by Validate).
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		loc = time.UTC
	}
	s.stories = stories(now.In(loc))
	have := make(map[string]bool, len(cfg.Entities))
	for _, e := range cfg.Entities {
		have[e.ID] = true
	}
	for _, st := range s.stories {
		if !have[st.entity.ID] {
			cfg.Entities = append(cfg.Entities, st.entity)
		}
	}

	errs = append(errs, cfg.Validate(), cfg.Resolve())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if !cfg.HasSubjectKey {
		cfg.SubjectKey, cfg.HasSubjectKey = [16]byte([]byte(demoSubjectKey)), true
		s.demoKey = true
	}
	s.cfg = cfg
	return s, nil
}

// listenHTTP listens on addr; when addr was not chosen by the user and its
// port is busy, it falls back to a free port on the same host. note says
// what happened, for the view.
func listenHTTP(addr string, explicit bool) (ln net.Listener, note string, err error) {
	ln, err = net.Listen("tcp", addr)
	if err == nil {
		return ln, "", nil
	}
	if explicit || !errors.Is(err, syscall.EADDRINUSE) {
		return nil, "", fmt.Errorf("http address %s: %w", addr, err)
	}
	host, port, _ := net.SplitHostPort(addr)
	ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, "", fmt.Errorf("http address %s: %w", addr, err)
	}
	return ln, "port " + port + " is busy", nil
}

// startBroker starts the in-process Kafka-protocol broker on 127.0.0.1,
// port 9092 when free and any free port otherwise, with the configured
// topics created.
func startBroker(k config.Kafka) (c *kfake.Cluster, note string, err error) {
	opts := func(extra ...kfake.Opt) []kfake.Opt {
		return append([]kfake.Opt{
			kfake.NumBrokers(1),
			kfake.SeedTopics(EventPartitions, k.Topic),
			kfake.SeedTopics(1, k.DeadLetterTopic),
		}, extra...)
	}
	c, err = kfake.NewCluster(opts(kfake.Ports(DefaultBrokerPort))...)
	if err == nil {
		return c, "", decisionsTopic(c, k)
	}
	c, err2 := kfake.NewCluster(opts()...)
	if err2 != nil {
		return nil, "", fmt.Errorf("in-process broker: %w", errors.Join(err, err2))
	}
	return c, "port " + strconv.Itoa(DefaultBrokerPort) + " is busy", decisionsTopic(c, k)
}

// decisionsTopic creates the decisions topic compacted, as production
// needs it (docs/operations.md).
func decisionsTopic(c *kfake.Cluster, k config.Kafka) error {
	if err := c.CreateTopic(k.DecisionsTopic, 1, map[string]string{"cleanup.policy": "compact"}); err != nil {
		c.Close()
		return fmt.Errorf("in-process broker: decisions topic: %w", err)
	}
	return nil
}

// tail reads one single-partition topic from its beginning, without a
// consumer group, and hands each record to the view.
type tail struct {
	addr, topic string
	r           *kafka.Reader
	out         chan kafka.Message
	next        atomic.Int64 // offset of the next record to hand over
}

func newTail(addr, topic string) *tail {
	return &tail{
		addr: addr, topic: topic,
		r: kafka.NewReader(kafka.ReaderConfig{
			Brokers:   []string{addr},
			Topic:     topic,
			Partition: 0,
			MinBytes:  1,
			MaxBytes:  4 << 20,
			MaxWait:   200 * time.Millisecond,
			// A fresh reader starts at the first offset.
		}),
		out: make(chan kafka.Message, 64),
	}
}

// run reads until ctx ends, then closes the reader and the channel.
func (t *tail) run(ctx context.Context) {
	defer close(t.out)
	defer t.r.Close()
	for {
		m, err := t.r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			select { // an error of the broker: try again shortly
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		select {
		case t.out <- m:
			t.next.Store(m.Offset + 1)
		case <-ctx.Done():
			return
		}
	}
}

// catchUp waits until every record written so far has been handed over,
// or ctx ends.
func (t *tail) catchUp(ctx context.Context) error {
	conn, err := kafka.DialLeader(ctx, "tcp", t.addr, t.topic, 0)
	if err != nil {
		return err
	}
	end, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for t.next.Load() < end {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: read %d of %d records: %w", t.topic, t.next.Load(), end, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

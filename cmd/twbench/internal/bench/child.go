package bench

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/config"
)

// The variants measured, each in a child process of its own.
const (
	Ceiling       = "ceiling"       // a bare consumer-group reader
	Baseline      = "baseline"      // encoding/json and a PFADD per event
	Batched       = "batched"       // encoding/json and pipelined PFADDs per batch of messages
	Transferwatch = "transferwatch" // app.Run: the whole service
)

// variants lists the variants in the order they run and are reported.
func variants() []string { return []string{Ceiling, Baseline, Batched, Transferwatch} }

// childSpec is what the harness tells a child process, on its standard
// input.
type childSpec struct {
	Variant       string        `json:"variant"`
	Broker        string        `json:"broker"`
	Topic         string        `json:"topic"`
	Group         string        `json:"group"`
	DeadLetters   string        `json:"dead_letters"`
	Decisions     string        `json:"decisions"`
	Redis         string        `json:"redis"`
	KeyPrefix     string        `json:"key_prefix"`
	SubjectKey    string        `json:"subject_key"` // hex
	Timezone      string        `json:"timezone"`
	FlushInterval time.Duration `json:"flush_interval"`
	CPUProfile    string        `json:"cpu_profile,omitempty"`  // file to write
	MemoryLimit   int64         `json:"memory_limit,omitempty"` // bytes; 0 for none
	// Since is when the child was started: the delays of events published
	// before (the live streams of the variants before) are not measured.
	Since time.Time `json:"since"`
}

// childResult is what a child reports on its standard output when it ends.
type childResult struct {
	// CPU is the user+system CPU time of the process (getrusage) at each
	// SIGUSR1 the harness sent, in seconds.
	CPU []float64 `json:"cpu"`
	// Handled is, at each SIGUSR1, how many messages the ceiling or the
	// baseline had handled (0 for transferwatch).
	Handled []int64 `json:"handled"`
	// MaxRSS is the peak resident set size of the process (VmHWM), in
	// bytes.
	MaxRSS int64 `json:"max_rss"`
	// Delays are, for the ceiling and the baseline, the delay of every
	// event of the latency phase from its publication to its effect (its
	// fetch; its PFADD returned), in nanoseconds.
	Delays []int64 `json:"delays"`
	Err    string  `json:"err,omitempty"`
}

// RunChild runs one variant as the harness asked on in (a childSpec) until
// SIGTERM, then writes its childResult to out. It is the main of a child
// process.
func RunChild(in io.Reader, out io.Writer, log *slog.Logger) error {
	var spec childSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fmt.Errorf("read the child spec: %w", err)
	}
	if spec.CPUProfile != "" {
		f, err := os.Create(spec.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		// And the allocations of the whole run, next to it.
		defer func() {
			if f, err := os.Create(strings.TrimSuffix(spec.CPUProfile, ".cpu.pprof") + ".alloc.pprof"); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if spec.MemoryLimit > 0 {
		debug.SetMemoryLimit(spec.MemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if spec.CPUProfile != "" {
		// And the in-use heap at its peak, for -sample_index=inuse_space.
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			heapAtPeak(ctx, strings.TrimSuffix(spec.CPUProfile, ".cpu.pprof")+".heap.pprof")
		}()
	}

	var res childResult
	var handled atomic.Int64
	usr1 := make(chan os.Signal, 16)
	signal.Notify(usr1, syscall.SIGUSR1)
	marks := make(chan childResult, 1)
	go func() {
		var m childResult
		for {
			select {
			case <-usr1:
				m.CPU = append(m.CPU, cpuSeconds())
				m.Handled = append(m.Handled, handled.Load())
			case <-ctx.Done():
				marks <- m
				return
			}
		}
	}()
	// SIGUSR2: stop handling the backlog, only drain it (the harness has
	// measured enough of it); the live stream is still handled.
	var skip atomic.Bool
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() {
		select {
		case <-usr2:
			skip.Store(true)
		case <-ctx.Done():
		}
	}()
	rc := readerControl{handled: &handled, skip: &skip}

	var err error
	switch spec.Variant {
	case Ceiling:
		res.Delays, err = runReader(ctx, spec, rc, nil)
	case Baseline:
		client := redis.NewClient(&redis.Options{Addr: spec.Redis, PoolSize: 4})
		defer client.Close()
		loc, lerr := time.LoadLocation(spec.Timezone)
		if lerr != nil {
			return lerr
		}
		res.Delays, err = runReader(ctx, spec, rc, pfadd(client, spec.KeyPrefix, loc))
	case Batched:
		client := redis.NewClient(&redis.Options{Addr: spec.Redis, PoolSize: 4})
		defer client.Close()
		loc, lerr := time.LoadLocation(spec.Timezone)
		if lerr != nil {
			return lerr
		}
		res.Delays, err = runBatched(ctx, spec, rc, client, loc)
	case Transferwatch:
		err = runTransferwatch(ctx, spec, log)
	default:
		err = fmt.Errorf("unknown variant %q", spec.Variant)
	}
	stop()
	m := <-marks
	res.CPU, res.Handled = m.CPU, m.Handled
	res.MaxRSS = peakRSS()
	if err != nil {
		res.Err = err.Error()
	}
	return json.NewEncoder(out).Encode(res)
}

// heapAtPeak writes the heap profile to path whenever the live heap (as of
// the last collection) has grown by a sixteenth past the largest seen so
// far, checking every 100 ms until ctx ends: the file holds the profile of
// the peak, give or take a sixteenth. Beside it (.mem.txt) it writes the
// peak of each of the runtime's memory classes, to tell the live heap
// from what the collector lets pile up between collections and from what
// the runtime keeps without returning it.
func heapAtPeak(ctx context.Context, path string) {
	names := []string{
		"/gc/heap/live:bytes",
		"/gc/heap/goal:bytes",
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/free:bytes",
		"/memory/classes/heap/stacks:bytes",
		"/memory/classes/total:bytes",
	}
	sample := make([]metrics.Sample, len(names))
	for i, n := range names {
		sample[i].Name = n
	}
	peaks := make([]uint64, len(names))
	defer func() {
		var b strings.Builder
		for i, n := range names {
			fmt.Fprintf(&b, "%s %d MiB\n", n, peaks[i]>>20)
		}
		_ = os.WriteFile(strings.TrimSuffix(path, ".heap.pprof")+".mem.txt", []byte(b.String()), 0o644)
	}()
	var peak uint64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		for i, s := range sample {
			if s.Value.Kind() == metrics.KindUint64 {
				peaks[i] = max(peaks[i], s.Value.Uint64())
			}
		}
		live := peaks[0]
		if live <= peak+peak/16 {
			continue
		}
		peak = live
		f, err := os.Create(path)
		if err != nil {
			return
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
}

// peakRSS returns the peak resident set size of this process (VmHWM), in
// bytes, or 0. Not getrusage's ru_maxrss: on Linux that keeps, across
// exec, the peak of the memory the process was forked from — here the
// harness and its broker.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuSeconds returns the user+system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// newReader returns a consumer-group reader tuned as internal/app tunes
// the service's.
func newReader(spec childSpec) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        []string{spec.Broker},
		GroupID:        spec.Group,
		Topic:          spec.Topic,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  1000,
		CommitInterval: 0,
		StartOffset:    kafka.FirstOffset,
	})
}

// commitEvery bounds how long the ceiling and the baseline hold fetched
// messages before committing them.
const commitEvery = time.Second

// readerControl is how the harness steers the ceiling and the baseline.
type readerControl struct {
	handled *atomic.Int64 // messages handled so far
	skip    *atomic.Bool  // skip the backlog: handle only the live stream
}

// runReader is the ceiling (handle nil) and the baseline: fetch every
// message, hand it to handle, and commit the last message of each
// partition once a second, every 10,000 messages, and whenever a partition
// is caught up. It returns the delays of the messages that carry a
// publication time, taken after handle returned.
func runReader(ctx context.Context, spec childSpec, rc readerControl, handle func(context.Context, kafka.Message) error) ([]int64, error) {
	r := newReader(spec)
	defer r.Close()
	since := spec.Since.UnixNano()
	var delays []int64
	last := make(map[int]kafka.Message)
	held := 0
	lastCommit := time.Now()
	commit := func() error {
		if len(last) == 0 {
			return nil
		}
		held = 0
		lastCommit = time.Now()
		return commitLast(ctx, r, last)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return delays, nil
			}
			return delays, err
		}
		pub := published(m)
		if handle != nil && (pub >= since || !rc.skip.Load()) {
			if err := handle(ctx, m); err != nil {
				if ctx.Err() != nil {
					return delays, nil
				}
				return delays, err
			}
		}
		rc.handled.Add(1)
		if pub >= since {
			delays = append(delays, time.Now().UnixNano()-pub)
		}
		last[m.Partition] = m
		held++
		if m.Offset+1 >= m.HighWaterMark || held >= 10_000 || time.Since(lastCommit) >= commitEvery {
			if err := commit(); err != nil {
				if ctx.Err() != nil {
					return delays, nil
				}
				return delays, err
			}
		}
	}
}

// published returns the publication time a message carries, or 0.
func published(m kafka.Message) int64 {
	for _, h := range m.Headers {
		if h.Key == pubHeader {
			n, _ := strconv.ParseInt(string(h.Value), 10, 64)
			return n
		}
	}
	return 0
}

// baselineEvent is the part of an event the baselines read.
type baselineEvent struct {
	Entity     string    `json:"entity"`
	OccurredAt time.Time `json:"occurred_at"`
	Subjects   []string  `json:"subjects"`
	Kind       string    `json:"kind"`
	Sensitive  bool      `json:"sensitive"`
	Exemption  string    `json:"exemption"`
}

// pfadd is the do-it-yourself baseline: decode with encoding/json and add
// the subjects to a Redis HyperLogLog per entity and year with one PFADD,
// one round trip per event.
func pfadd(rc *redis.Client, prefix string, loc *time.Location) func(context.Context, kafka.Message) error {
	var args []any
	return func(ctx context.Context, m kafka.Message) error {
		var ev baselineEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			return nil // a team would log and skip it
		}
		args = args[:0]
		for _, s := range ev.Subjects {
			args = append(args, s)
		}
		key := prefix + ":{" + ev.Entity + "}:y" + strconv.Itoa(ev.OccurredAt.In(loc).Year())
		return rc.PFAdd(ctx, key, args...).Err()
	}
}

// batchSize is how many messages the batched baseline handles per batch:
// one pipeline of PFADDs, then one commit.
const batchSize = 4096

// runBatched is the strong baseline, what a competent engineer writes in
// an afternoon: a kafka-go reader, encoding/json, and per batch of up to
// batchSize messages one pipelined PFADD per entity-year-counter (the
// counter is the event's cell: kind, sensitive, exempt; the same split
// transferwatch keeps), then a commit. A batch ends when it is full, when
// a partition is caught up, or a second after it began. It returns the
// delays of the messages that carry a publication time, taken when their
// batch's pipeline returned.
func runBatched(ctx context.Context, spec childSpec, rc readerControl, client *redis.Client, loc *time.Location) ([]int64, error) {
	r := newReader(spec)
	defer r.Close()
	since := spec.Since.UnixNano()
	var delays, pending []int64
	subjects := make(map[string][]any) // key -> subjects of the batch
	last := make(map[int]kafka.Message)
	held := 0
	began := time.Now()
	flush := func() error {
		if len(subjects) > 0 {
			pipe := client.Pipeline()
			for key, args := range subjects {
				pipe.PFAdd(ctx, key, args...)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
			clear(subjects)
		}
		now := time.Now().UnixNano()
		for _, pub := range pending {
			delays = append(delays, now-pub)
		}
		pending = pending[:0]
		if len(last) == 0 {
			return nil
		}
		held = 0
		return commitLast(ctx, r, last)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return delays, nil
			}
			return delays, err
		}
		if held == 0 {
			began = time.Now()
		}
		pub := published(m)
		if pub >= since || !rc.skip.Load() {
			var ev baselineEvent
			if json.Unmarshal(m.Value, &ev) == nil { // a team would log and skip a bad one
				exempt := "-"
				if ev.Exemption != "" {
					exempt = "e"
				}
				key := spec.KeyPrefix + ":{" + ev.Entity + "}:" + ev.Kind + ":" + strconv.FormatBool(ev.Sensitive) + ":" + exempt +
					":y" + strconv.Itoa(ev.OccurredAt.In(loc).Year())
				args := subjects[key]
				for _, s := range ev.Subjects {
					args = append(args, s)
				}
				subjects[key] = args
			}
		}
		rc.handled.Add(1)
		if pub >= since {
			pending = append(pending, pub)
		}
		last[m.Partition] = m
		held++
		if m.Offset+1 >= m.HighWaterMark || held >= batchSize || time.Since(began) >= commitEvery {
			if err := flush(); err != nil {
				if ctx.Err() != nil {
					return delays, nil
				}
				return delays, err
			}
		}
	}
}

// runTransferwatch runs the service in this process, as `transferwatch
// run` does, until ctx ends.
func runTransferwatch(ctx context.Context, spec childSpec, log *slog.Logger) error {
	cfg := config.Default()
	cfg.Timezone = spec.Timezone
	cfg.FlushInterval = spec.FlushInterval
	cfg.Kafka.Brokers = []string{spec.Broker}
	cfg.Kafka.Topic = spec.Topic
	cfg.Kafka.GroupID = spec.Group
	cfg.Kafka.DeadLetterTopic = spec.DeadLetters
	cfg.Kafka.DecisionsTopic = spec.Decisions
	cfg.Redis.Addrs = []string{spec.Redis}
	cfg.Redis.KeyPrefix = spec.KeyPrefix
	cfg.HTTP.Addr = "127.0.0.1:0"
	// Count every entity of the workload and the probes: at the default
	// limits.max_entities (10,000) the probes of the 10,000-entity
	// workloads and most of the 100,000 entities would be dead-lettered.
	cfg.Limits.MaxEntities = config.MaxMaxEntities
	key, err := hex.DecodeString(spec.SubjectKey)
	if err != nil || len(key) != len(cfg.SubjectKey) {
		return errors.New("subject key: want 32 hex characters")
	}
	copy(cfg.SubjectKey[:], key)
	cfg.HasSubjectKey = true
	if err := errors.Join(cfg.Validate(), cfg.Resolve()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	return app.Run(ctx, app.Options{
		Config:   cfg,
		Logger:   log,
		Registry: prometheus.NewRegistry(),
		Listener: ln,
	})
}

// subjectKeyHex is the subject key of every run: the benchmark measures
// speed, not secrecy.
const subjectKeyHex = "000102030405060708090a0b0c0d0e0f"

// commitLast commits the last message read of each partition in last, as
// both baselines do after their work, and empties last.
func commitLast(ctx context.Context, r *kafka.Reader, last map[int]kafka.Message) error {
	if len(last) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		msgs = append(msgs, m)
	}
	clear(last)
	return r.CommitMessages(ctx, msgs...)
}

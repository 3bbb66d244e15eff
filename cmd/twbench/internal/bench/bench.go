// Package bench is the end-to-end benchmark behind `make bench`
// (cmd/twbench). In one run, on the same generated topic in an in-process
// kfake broker and with a real redis-server it starts itself, it measures
// three consumers of the topic, each in a child process of its own so that
// its CPU time and peak RSS are its own:
//
//   - the ceiling: a bare kafka-go consumer-group reader that drains the
//     topic and does nothing but commit;
//   - the baseline: what a team writes in a hurry, encoding/json and a
//     native PFADD per event to a HyperLogLog per entity and year;
//   - the batched baseline: what a competent engineer writes in an
//     afternoon, encoding/json and per batch of a few thousand messages one
//     pipelined PFADD per entity-year-counter, then a commit;
//   - transferwatch itself, app.Run from fetch to decisions.
//
// Each variant first drains a backlog (throughput: events and subject
// occurrences per second, CPU seconds per million events, from the moment
// the consumer group fetched its offsets to the commit covering the last
// event, both as the broker saw them), then consumes a steady stream
// published at a fixed rate well below every variant's capacity (latency:
// the delay from an event's publication to its effect, and for
// transferwatch from an event that crosses a threshold to its decision on
// the decisions topic). Redis memory is measured per entity-year after
// each variant.
package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/testutil/syncbuf"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Options of a benchmark run.
type Options struct {
	Workloads []Workload
	Variants  []string // default: all, in the order ceiling, baseline, transferwatch
	// Child is the command that runs one variant: the harness's own
	// executable with the flag that makes it a child.
	Child []string
	// FlushInterval of transferwatch; default 1s, the service's default.
	FlushInterval time.Duration
	// DrainTimeout bounds the drain of a backlog by one variant.
	DrainTimeout time.Duration
	// Budget is how long the ceiling and the baseline are measured on the
	// backlog at most: past it their rate is taken from what they handled
	// so far, and they skip the rest (a PFADD per event would take minutes
	// over the backlogs transferwatch needs). Default 20s.
	Budget time.Duration
	// ProfileDir, if set, receives a CPU profile of each variant's run,
	// named after the workload and the variant.
	ProfileDir string
	// Progress receives a line per step (os.Stderr); nil for none.
	Progress io.Writer
}

// DefaultWorkloads is the matrix of `make bench`: 1 and 100 subjects per
// event, 10 and 10,000 entities, 1 and 4 partitions, and 1 subject per
// event over 100,000 entities. The backlogs are sized
// so that transferwatch drains each in several flush intervals on a 2-core
// machine (its last flush comes up to one interval after its last fetch).
func DefaultWorkloads() []Workload {
	var out []Workload
	for _, subjects := range []int{1, 100} {
		for _, entities := range []int{10, 10_000} {
			for _, parts := range []int{1, 4} {
				w := Workload{Subjects: subjects, Entities: entities, Partitions: parts,
					Events: 3_000_000, LiveRate: 1000, LiveFor: 4 * time.Second}
				if subjects == 100 {
					w.Events, w.LiveRate = 300_000, 100
				}
				if subjects == 1 && entities == 10 && parts == 1 {
					w.Rounds = 3 // the workload of the 80% target
				}
				out = append(out, w)
			}
		}
	}
	// Many small entities: a year of 30 events each.
	out = append(out, Workload{Subjects: 1, Entities: 100_000, Partitions: 1,
		Events: 3_000_000, LiveRate: 1000, LiveFor: 4 * time.Second})
	return out
}

// Result is the measurement of one variant on one workload.
type Result struct {
	Workload Workload
	Variant  string
	Err      string // what went wrong, if anything; the figures may be partial

	Drain      time.Duration // the backlog, from group join to last commit
	Events     int           // events of the backlog drained
	Partial    bool          // measured on the first Events of the backlog (Options.Budget)
	CPUSeconds float64       // during the drain
	// RedisCPUSeconds is what redis-server spent during the drain: the
	// baselines' PFADDs do their HyperLogLog work there.
	RedisCPUSeconds float64
	// RedisIn and RedisOut are the bytes redis-server received and sent
	// during the drain (INFO stats; the harness's own INFO calls are a few
	// KB): what a flush writes, and what it reads back first.
	RedisIn, RedisOut int64
	MaxRSS            int64 // bytes, peak of the whole child process
	// Delays from publication to effect during the latency phase; Missing
	// counts the events whose effect was not seen.
	Delays  []time.Duration
	Missing int
	// DecisionDelays from the publication of a threshold-crossing event to
	// its decision message (transferwatch only).
	DecisionDelays []time.Duration
	// RedisBytes is the MEMORY USAGE of every key the variant wrote;
	// EntityYears the number of entity-years among them.
	RedisBytes  int64
	EntityYears int
	UsedMemory  int64 // INFO used_memory growth over the empty server
	// Runs is how many runs the result is the median of, with the lowest
	// and highest events per second among them.
	Runs                             int
	MinEventsPerSec, MaxEventsPerSec float64
}

// EventsPerSec is the drain rate.
func (r Result) EventsPerSec() float64 {
	if r.Drain <= 0 {
		return 0
	}
	return float64(r.Events) / r.Drain.Seconds()
}

// CPUWithRedisPerMillion is the CPU seconds the variant and redis-server
// spent per million events drained.
func (r Result) CPUWithRedisPerMillion() float64 {
	if r.Events == 0 {
		return 0
	}
	return (r.CPUSeconds + r.RedisCPUSeconds) / float64(r.Events) * 1e6
}

// RedisPerEvent is the bytes redis-server received and sent per event
// drained.
func (r Result) RedisPerEvent() (in, out float64) {
	if r.Events == 0 {
		return 0, 0
	}
	return float64(r.RedisIn) / float64(r.Events), float64(r.RedisOut) / float64(r.Events)
}

// SubjectsPerSec is the drain rate in subject occurrences.
func (r Result) SubjectsPerSec() float64 { return r.EventsPerSec() * float64(r.Workload.Subjects) }

// CPUPerMillion is the CPU seconds spent per million events drained.
func (r Result) CPUPerMillion() float64 {
	if r.Events == 0 {
		return 0
	}
	return r.CPUSeconds / float64(r.Events) * 1e6
}

// Run runs every workload against every variant and returns the results in
// order. A variant that fails is reported in its Result; Run itself fails
// only when the harness cannot run at all.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if len(o.Variants) == 0 {
		o.Variants = variants()
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 3 * time.Minute
	}
	if o.Budget <= 0 {
		o.Budget = 20 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	h := &harness{o: o}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	h.loc, err = time.LoadLocation(timezone)
	if err != nil {
		return nil, err
	}
	h.broker, err = newBroker(deadLetterTopic, decisionsTopic)
	if err != nil {
		return nil, err
	}
	defer h.broker.Close()
	h.redis, err = startRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer h.redis.stop()
	stopDecisions := h.readDecisions()
	defer stopDecisions()

	var results []Result
	for i, w := range o.Workloads {
		topic := "events-" + w.Name()
		began := time.Now()
		ends, err := h.produceBacklog(ctx, topic, w, uint64(i))
		if err != nil {
			return results, err
		}
		fmt.Fprintf(o.Progress, "[%s] produced %d events of %d subjects to %d partitions in %s\n",
			w.Name(), w.Events, w.Subjects, w.Partitions, time.Since(began).Round(100*time.Millisecond))
		runs := make(map[string][]Result)
		for round := range max(w.Rounds, 1) {
			for _, v := range o.Variants {
				if round > 0 && v == Baseline {
					continue
				}
				if ctx.Err() != nil {
					return results, ctx.Err()
				}
				r := h.runVariant(ctx, w, topic, ends, v)
				fmt.Fprintf(o.Progress, "[%s] %-13s %s\n", w.Name(), v, summary(r))
				runs[v] = append(runs[v], r)
			}
		}
		for _, v := range o.Variants {
			results = append(results, median(runs[v]))
		}
		if err := h.broker.deleteTopic(ctx, topic); err != nil {
			return results, err
		}
	}
	return results, nil
}

// median returns the run with the median events per second, with the
// range of all runs.
func median(runs []Result) Result {
	slices.SortFunc(runs, func(a, b Result) int { return cmp.Compare(a.EventsPerSec(), b.EventsPerSec()) })
	r := runs[(len(runs)-1)/2]
	r.Runs = len(runs)
	r.MinEventsPerSec, r.MaxEventsPerSec = runs[0].EventsPerSec(), runs[len(runs)-1].EventsPerSec()
	return r
}

// The fixed names of a run.
const (
	timezone        = "Asia/Shanghai"
	deadLetterTopic = "bench.dlq"
	decisionsTopic  = "bench.decisions"
)

type harness struct {
	o      Options
	loc    *time.Location
	broker *broker
	redis  *redisServer

	runs int // variant runs so far

	mu        sync.Mutex
	decisions map[string]time.Time // first decision message of each entity
}

// readDecisions records when the first decision of each entity arrives,
// until the returned function is called.
func (h *harness) readDecisions() (stop func()) {
	h.decisions = make(map[string]time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{h.broker.Addr()}, Topic: decisionsTopic, Partition: 0,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				return
			}
			now := time.Now()
			var sig decision.Signal
			if json.Unmarshal(m.Value, &sig) != nil {
				continue
			}
			h.mu.Lock()
			if _, ok := h.decisions[sig.Entity]; !ok {
				h.decisions[sig.Entity] = now
			}
			h.mu.Unlock()
		}
	}()
	return func() { cancel(); <-done; r.Close() }
}

func (h *harness) decisionAt(entity string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.decisions[entity]
}

// produceBacklog creates topic and fills it with w.Events events. It
// returns the end offset of each partition.
func (h *harness) produceBacklog(ctx context.Context, topic string, w Workload, seed uint64) (map[int32]int64, error) {
	if err := h.broker.createTopic(ctx, topic, w.Partitions); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	ends := make(map[int32]int64)
	wr := &kafka.Writer{
		Addr: kafka.TCP(h.broker.Addr()), Topic: topic, Balancer: &kafka.RoundRobin{},
		BatchSize: 2000, BatchBytes: maxMessageBytes, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireOne,
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				return
			}
			mu.Lock()
			for _, m := range msgs {
				ends[int32(m.Partition)] = max(ends[int32(m.Partition)], m.Offset+1)
			}
			mu.Unlock()
		},
	}
	defer wr.Close()
	g := newGenerator(w, seed, time.Now(), h.loc)
	const chunk = 10_000
	msgs := make([]kafka.Message, 0, chunk)
	for n := 0; n < w.Events; n += len(msgs) {
		msgs = msgs[:0]
		for range min(chunk, w.Events-n) {
			m, err := message(g.next("", false))
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		}
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			return nil, fmt.Errorf("produce to %s: %w", topic, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	total := int64(0)
	for _, e := range ends {
		total += e
	}
	if total != int64(w.Events) {
		return nil, fmt.Errorf("produce to %s: %d events acknowledged, want %d", topic, total, w.Events)
	}
	return ends, nil
}

// child is a running variant process.
type child struct {
	cmd    *exec.Cmd
	out    *syncbuf.Buffer
	exited chan struct{}
}

func (h *harness) startChild(spec childSpec) (*child, error) {
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(h.o.Child[0], h.o.Child[1:]...)
	c := &child{cmd: cmd, out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stdin = bytesReader(in)
	cmd.Stdout = c.out
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start child: %w", err)
	}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	return c, nil
}

// mark asks the child to record its CPU time.
func (c *child) mark() { _ = c.cmd.Process.Signal(syscall.SIGUSR1) }

// stop ends the child and returns what it reported.
func (c *child) stop() (childResult, error) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return childResult{}, errors.New("child did not stop within 40s; killed")
	}
	var res childResult
	if err := json.Unmarshal(c.out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("child result: %w (exit: %v)", err, c.cmd.ProcessState)
	}
	if res.Err != "" {
		return res, errors.New(res.Err)
	}
	return res, nil
}

// runVariant measures variant v on the backlog of topic (ending at ends)
// and then on a live stream, whose end it adds to ends.
func (h *harness) runVariant(ctx context.Context, w Workload, topic string, ends map[int32]int64, v string) Result {
	r := Result{Workload: w, Variant: v}
	var errs []error
	fail := func(err error) Result {
		errs = append(errs, err)
		r.Err = errors.Join(errs...).Error()
		return r
	}
	if err := h.redis.client.FlushAll(ctx).Err(); err != nil {
		return fail(err)
	}
	emptyMem, err := h.redis.usedMemory(ctx)
	if err != nil {
		return fail(err)
	}
	h.runs++ // every run has a consumer group (and probes) of its own
	group := fmt.Sprintf("bench-%s-%s-%d", w.Name(), v, h.runs)
	prefix := "tw"
	switch v {
	case Baseline:
		prefix = "pf"
	case Batched:
		prefix = "pb"
	}
	h.broker.watch(group)
	c, err := h.startChild(childSpec{
		Variant: v, Broker: h.broker.Addr(), Topic: topic, Group: group,
		DeadLetters: deadLetterTopic, Decisions: decisionsTopic,
		Redis: h.redis.addr, KeyPrefix: prefix, SubjectKey: subjectKeyHex,
		Timezone: timezone, FlushInterval: h.o.FlushInterval,
		CPUProfile: profilePath(h.o.ProfileDir, w, v),
		Since:      time.Now(),
	})
	if err != nil {
		return fail(err)
	}
	defer func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}()

	// Throughput: the drain of the backlog.
	start, ok := waitFor(ctx, c, 60*time.Second, func() time.Time { return h.broker.joined(group) })
	if !ok {
		what := "the consumer group did not start within 60s"
		if !processAlive(c) {
			what = "the child exited"
		}
		_, cerr := c.stop()
		return fail(fmt.Errorf("%s: %w", what, cerr))
	}
	c.mark()
	redisCPU0 := h.redis.cpuSeconds(ctx)
	in0, out0 := h.redis.netBytes(ctx)
	covered := func() time.Time { return h.broker.covered(group, ends) }
	limit := h.o.DrainTimeout
	if v != Transferwatch {
		limit = h.o.Budget
	}
	end, ok := waitFor(ctx, c, limit, covered)
	c.mark()
	r.RedisCPUSeconds = h.redis.cpuSeconds(ctx) - redisCPU0
	in1, out1 := h.redis.netBytes(ctx)
	r.RedisIn, r.RedisOut = in1-in0, out1-out0
	r.Events = 0
	for _, e := range ends {
		r.Events += int(e) // the backlog, and the live streams of the variants before
	}
	overBudget := false
	switch {
	case !ok && v != Transferwatch && processAlive(c):
		// Measured enough: the rate is what the child handled until now.
		overBudget, end = true, time.Now()
		_ = c.cmd.Process.Signal(syscall.SIGUSR2)
		_, ok = waitFor(ctx, c, h.o.DrainTimeout, covered)
	case !ok:
		end = time.Now()
		r.Events = int(h.committedEvents(group, ends))
	}
	if !ok {
		errs = append(errs, fmt.Errorf("backlog not drained within %s", limit))
	}
	r.Drain = end.Sub(start)

	// Latency: a steady stream, with threshold-crossing probes.
	if ok {
		if err := h.live(ctx, c, w, topic, group, v, ends, &r); err != nil {
			errs = append(errs, err)
		}
		r.RedisBytes, r.EntityYears, err = h.redis.keyMemory(ctx, prefix)
		if err != nil {
			errs = append(errs, err)
		}
		if used, err := h.redis.usedMemory(ctx); err == nil {
			r.UsedMemory = used - emptyMem
		}
	}

	res, err := c.stop()
	if err != nil {
		errs = append(errs, err)
	}
	if len(res.CPU) >= 2 {
		r.CPUSeconds = res.CPU[1] - res.CPU[0]
	}
	if overBudget && len(res.Handled) >= 2 {
		r.Events = int(res.Handled[1] - res.Handled[0])
		r.Partial = true
	}
	r.MaxRSS = res.MaxRSS
	if v != Transferwatch {
		for _, d := range res.Delays {
			r.Delays = append(r.Delays, time.Duration(d))
		}
		r.Missing = max(0, r.Missing-len(res.Delays))
	}
	if len(errs) > 0 {
		r.Err = errors.Join(errs...).Error()
	}
	return r
}

// profilePath names the CPU profile of variant v on w in dir ("" if dir
// is).
func profilePath(dir string, w Workload, v string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, w.Name()+"-"+v+".cpu.pprof")
}

// processAlive reports whether the child is still running.
func processAlive(c *child) bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// committedEvents sums what group committed of the backlog.
func (h *harness) committedEvents(group string, ends map[int32]int64) int64 {
	h.broker.mu.Lock()
	defer h.broker.mu.Unlock()
	n := int64(0)
	for p, end := range ends {
		if cs := h.broker.groups[group].commits[p]; len(cs) > 0 {
			n += min(cs[len(cs)-1].offset, end)
		}
	}
	return n
}

// probes is how many threshold-crossing events the latency phase carries.
const probes = 3

// live publishes w.LiveRate events per second for w.LiveFor, with probes
// (an entity's first event, with important data: its decision becomes
// block) spread over it, and measures the delays of variant v.
func (h *harness) live(ctx context.Context, c *child, w Workload, topic, group, v string, ends map[int32]int64, r *Result) error {
	var mu sync.Mutex
	var acked []sent
	var werr error
	wr := &kafka.Writer{
		Addr: kafka.TCP(h.broker.Addr()), Topic: topic, Balancer: &kafka.RoundRobin{},
		BatchTimeout: time.Millisecond, BatchBytes: maxMessageBytes, RequiredAcks: kafka.RequireOne,
		Async: true,
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				werr = err
				return
			}
			for _, m := range msgs {
				pub, _ := strconv.ParseInt(string(m.Headers[0].Value), 10, 64)
				acked = append(acked, sent{partition: int32(m.Partition), offset: m.Offset, published: time.Unix(0, pub)})
			}
		},
	}
	g := newGenerator(w, 1<<40+uint64(len(v)), time.Now(), h.loc)
	probeAt := make(map[string]time.Time)
	const tick = 10 * time.Millisecond
	perTick := float64(w.LiveRate) * tick.Seconds()
	ticks := int(w.LiveFor / tick)
	t := time.NewTicker(tick)
	owed := 0.0
	published := 0
	for i := range ticks {
		<-t.C
		owed += perTick
		var msgs []kafka.Message
		if i%(ticks/probes) == ticks/probes/2 && len(probeAt) < probes {
			entity := fmt.Sprintf("probe-%s-%d", group, len(probeAt))
			m, err := message(g.next(entity, true))
			if err != nil {
				return err
			}
			now := time.Now()
			probeAt[entity] = now
			m.Headers = []kafka.Header{{Key: pubHeader, Value: []byte(strconv.FormatInt(now.UnixNano(), 10))}}
			msgs = append(msgs, m)
		}
		for ; owed >= 1; owed-- {
			m, err := message(g.next("", false))
			if err != nil {
				return err
			}
			m.Headers = []kafka.Header{{Key: pubHeader, Value: []byte(strconv.FormatInt(time.Now().UnixNano(), 10))}}
			msgs = append(msgs, m)
		}
		published += len(msgs)
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			return err
		}
	}
	t.Stop()
	if err := wr.Close(); err != nil { // flushes and waits for the acks
		return err
	}
	mu.Lock()
	msgs, err := acked, werr
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("publish the live stream: %w", err)
	}
	r.Missing = published

	// Wait for every live event to be committed (and for the decisions).
	// The next variants drain the live stream too, as part of the backlog.
	liveEnds := make(map[int32]int64)
	for _, m := range msgs {
		liveEnds[m.partition] = max(liveEnds[m.partition], m.offset+1)
		ends[m.partition] = max(ends[m.partition], m.offset+1)
	}
	if _, ok := waitFor(ctx, c, 60*time.Second, func() time.Time { return h.broker.covered(group, liveEnds) }); !ok {
		return errors.New("the live stream was not committed within 60s")
	}
	if v == Transferwatch {
		for entity, pub := range probeAt {
			at, ok := waitFor(ctx, c, 30*time.Second, func() time.Time { return h.decisionAt(entity) })
			if !ok {
				return fmt.Errorf("no decision for %s within 30s", entity)
			}
			r.DecisionDelays = append(r.DecisionDelays, at.Sub(pub))
		}
		slices.Sort(r.DecisionDelays)
		r.Missing = 0
		for i, at := range h.broker.committedAt(group, msgs) {
			if at.IsZero() {
				r.Missing++
				continue
			}
			r.Delays = append(r.Delays, at.Sub(msgs[i].published))
		}
		r.Missing += published - len(msgs)
	}
	return nil
}

// waitFor polls f until it returns a non-zero time, the child exits, or
// limit passes.
func waitFor(ctx context.Context, c *child, limit time.Duration, f func() time.Time) (time.Time, bool) {
	deadline := time.Now().Add(limit)
	for {
		if t := f(); !t.IsZero() {
			return t, true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, false
		}
		select {
		case <-c.exited:
			return time.Time{}, false
		case <-time.After(2 * time.Millisecond):
		}
	}
}

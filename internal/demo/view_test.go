package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// status builds the status of an entity under cac-2022 with the given
// personal and sensitive estimates.
func status(id string, d policy.Decision, ciio bool, personal, sensitive uint64, reasons ...string) policy.Status {
	w := sketch.SincePrevJan1
	start := policy.Date{Year: 2025, Month: time.January, Day: 1}
	ratio := func(n, th uint64) float64 { return float64(int(float64(n)/float64(th)*1000)) / 1000 }
	level := func(n, th uint64) policy.Level { return policy.DefaultLevels().Of(n, th) }
	st := policy.Status{
		Entity: id, Name: id, CIIO: ciio, Policy: policy.PresetCAC2022, Decision: d,
		RequiredMechanism: policy.MechanismNone, Reasons: reasons,
		Counters: []policy.CounterReport{
			{Counter: sketch.Personal, Window: w, WindowStart: start, Estimate: personal},
			{Counter: sketch.Sensitive, Window: w, WindowStart: start, Estimate: sensitive},
			{Counter: sketch.Processed, Window: w, WindowStart: start, Estimate: personal},
		},
		Rules: []policy.RuleReport{
			{ID: "ciio", Counter: sketch.Personal, Window: w, Threshold: 1, Level: policy.LevelOK},
			{ID: "important-data", Counter: policy.ImportantDataCounter, Window: w, Threshold: 1, Level: policy.LevelOK},
			{ID: "processed-1m", Counter: sketch.Processed, Window: w, Threshold: 1_000_000,
				Ratio: ratio(personal, 1_000_000), Level: level(personal, 1_000_000)},
			{ID: "personal-100k", Counter: sketch.Personal, Window: w, Threshold: 100_000,
				Ratio: ratio(personal, 100_000), Level: level(personal, 100_000)},
			{ID: "sensitive-10k", Counter: sketch.Sensitive, Window: w, Threshold: 10_000,
				Ratio: ratio(sensitive, 10_000), Level: level(sensitive, 10_000)},
		},
	}
	if ciio && personal > 0 {
		st.Rules[0].Level, st.Rules[0].Ratio, st.Rules[0].Covered = policy.LevelBreached, float64(personal), true
	}
	return st
}

func testStatuses() []policy.Status {
	return []policy.Status{
		status("acme-sh", policy.Block, false, 104_447, 0, "personal-100k breached: 106993 >= 100000 since 2025-01-01"),
		status("jinghua-grid", policy.Allow, true, 1_500, 0, "ciio breached: …, covered by CAC-2025-0107 (security_assessment)"),
		status("kangning-hz", policy.Warn, false, 9_000, 9_000, "sensitive-10k at warning: 9230 of 10000 (92.3%)"),
		status("quietbook-bj", policy.Allow, false, 3_000, 0),
	}
}

func testView(out *bytes.Buffer, tty bool, width int) *view {
	return &view{
		out: out, tty: tty, color: tty, width: func() int { return width }, loc: time.UTC,
		info: info{
			broker: "127.0.0.1:9092", http: "[::]:8080", topic: "outbound-transfers",
			dlq: "outbound-transfers.dlq", out: "transfer-decisions", store: "in-process",
			policy: "cac-2022", timezone: "Asia/Shanghai", duration: time.Minute,
		},
	}
}

func TestChangeLine(t *testing.T) {
	for _, tc := range []struct {
		sig  decision.Signal
		want string
	}{
		{decision.Signal{Entity: "a", Decision: policy.Allow}, "decision a: none -> allow"},
		{decision.Signal{Entity: "a", Decision: policy.Block, Previous: policy.Warn, Reasons: []string{"r1", "r2"}},
			"decision a: warn -> block (r1)"},
		{decision.Signal{Entity: "a", Decision: policy.Warn, Previous: policy.Warn},
			"decision a: warn (unchanged, announced at start-up)"},
	} {
		if got := changeLine(tc.sig); got != tc.want {
			t.Errorf("changeLine = %q, want %q", got, tc.want)
		}
	}
}

func TestStatusLine(t *testing.T) {
	got := statusLine(testStatuses()[1])
	for _, want := range []string{"status jinghua-grid allow", "personal=1500", "sensitive=0", "processed=1500",
		"ciio=breached(covered)", "important-data=ok", "personal-100k=0.015/ok"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := statusLine(testStatuses()[0]); !strings.Contains(got, "ciio=n/a") || !strings.Contains(got, "personal-100k=1.044/breached") {
		t.Errorf("status line %q", got)
	}
}

// TestFrame renders the live view at several widths: every line fits, the
// decisions and bars show, and the colors are there.
func TestFrame(t *testing.T) {
	for _, width := range []int{60, 100, 150, 220} {
		var out bytes.Buffer
		v := testView(&out, true, width)
		v.decision(decision.Signal{Entity: "acme-sh", Decision: policy.Block, Previous: policy.Warn,
			Reasons: []string{strings.Repeat("a long reason ", 30)}}, time.Now())
		v.deadLetter(kafka.Message{})
		v.refresh(snapshot{now: time.Now(), up: 5 * time.Second, statuses: testStatuses(), rate: 12, backlog: true})
		frame := out.String()
		if !strings.HasPrefix(frame, escHome) || !strings.Contains(frame, escClearBelow) {
			t.Errorf("width %d: not redrawn in place", width)
		}
		plain := stripEscapes(frame)
		for _, want := range []string{"BLOCK", "WARN", "ALLOW", "acme-sh", "quietbook-bj", string(barFull), string(barEmpty),
			"warn → BLOCK", "1 dead letters", "localhost:8080/v1/entities", markCovered} {
			if !strings.Contains(plain, want) && width >= 150 {
				t.Errorf("width %d: frame lacks %q", width, want)
			}
		}
		if !strings.Contains(frame, escRed) {
			t.Errorf("width %d: no color", width)
		}
		for l := range strings.SplitSeq(plain, "\n") {
			if n := utf8.RuneCountInString(l); n >= width {
				t.Errorf("width %d: line of %d runes: %q", width, n, l)
			}
		}
	}
}

// TestPlain checks the plain lines: a decision change at once, the traffic
// and one status line per entity every few refreshes, no escape sequence.
func TestPlain(t *testing.T) {
	var out bytes.Buffer
	v := testView(&out, false, 80)
	v.start()
	if !strings.Contains(out.String(), "curl -s http://localhost:8080/v1/entities") ||
		!strings.Contains(out.String(), "transferwatch run --config deploy/config.example.yaml") ||
		!strings.Contains(out.String(), "kcat -C -b 127.0.0.1:9092") {
		t.Errorf("introduction:\n%s", out.String())
	}
	out.Reset()
	v.decision(decision.Signal{Entity: "acme-sh", Decision: policy.Block, Previous: policy.Warn, Reasons: []string{"personal-100k breached"}}, time.Now())
	if got := out.String(); got != "decision acme-sh: warn -> block (personal-100k breached)\n" {
		t.Errorf("change: %q", got)
	}
	out.Reset()
	v.deadLetter(kafka.Message{Headers: []kafka.Header{
		{Key: "tw-error", Value: []byte("entity: required")},
		{Key: "tw-source-topic", Value: []byte("outbound-transfers")},
		{Key: "tw-source-partition", Value: []byte("2")},
		{Key: "tw-source-offset", Value: []byte("17")},
	}})
	if got := out.String(); got != "dead letter outbound-transfers[2]@17: entity: required\n" {
		t.Errorf("dead letter: %q", got)
	}
	out.Reset()
	for range plainEvery {
		v.refresh(snapshot{statuses: testStatuses(), consumed: 1234, rate: 8, backlog: true})
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1+len(testStatuses()) || !strings.HasPrefix(lines[0], "traffic live: consumed 1,234 events (8/s)") {
		t.Errorf("status round:\n%s", out.String())
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Error("escape sequences in plain output")
	}

	out.Reset()
	v.summary(&out, 20*time.Second, testStatuses())
	for _, want := range []string{"stopped after 20s", "dead letters: 1 on outbound-transfers.dlq",
		"final acme-sh      block  personal-100k breached", "final quietbook-bj allow"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestClip(t *testing.T) {
	s := escRed + "hello" + escReset + " world"
	if got := clip(s, 20); got != s {
		t.Errorf("clip of a short line changed it: %q", got)
	}
	got := clip(s, 5)
	if stripEscapes(got) != "hell…" || !strings.HasPrefix(got, escRed) || !strings.HasSuffix(got, escReset) {
		t.Errorf("clip = %q", got)
	}
	if got := truncate("abcdef", 4); got != "abc…" {
		t.Errorf("truncate = %q", got)
	}
}

func TestFormat(t *testing.T) {
	for f, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -1500: "-1,500"} {
		if got := thousands(f); got != want {
			t.Errorf("thousands(%v) = %q, want %q", f, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0:00", 65 * time.Second: "1:05", 3723 * time.Second: "1:02:03"} {
		if got := clockDur(d); got != want {
			t.Errorf("clockDur(%s) = %q, want %q", d, got, want)
		}
	}
	for addr, want := range map[string]string{":8080": "localhost:8080", "0.0.0.0:80": "localhost:80",
		"[::]:1": "localhost:1", "127.0.0.1:9": "127.0.0.1:9"} {
		if got := localHost(addr); got != want {
			t.Errorf("localHost(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestGatherAndRate(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	ev := f.NewCounterVec(prometheus.CounterOpts{Name: "transferwatch_events_total", Help: "h"}, []string{"result"})
	subj := f.NewCounter(prometheus.CounterOpts{Name: "transferwatch_subjects_total", Help: "h"})
	ev.WithLabelValues("accepted").Add(10)
	ev.WithLabelValues("invalid").Add(2)
	subj.Add(500)
	consumed, invalid, subjects := gather(reg)
	if consumed != 12 || invalid != 2 || subjects != 500 {
		t.Errorf("gather = %v, %v, %v", consumed, invalid, subjects)
	}

	r := &rater{}
	t0 := time.Unix(0, 0)
	if e, _ := r.add(t0, 0, 0); e != 0 {
		t.Errorf("first rate %v", e)
	}
	r.add(t0.Add(time.Second), 10, 100)
	e, s := r.add(t0.Add(2*time.Second), 20, 200)
	if e != 10 || s != 100 {
		t.Errorf("rates %v %v, want 10 100", e, s)
	}
	for i := 3; i < 10; i++ {
		e, _ = r.add(t0.Add(time.Duration(i)*time.Second), float64(i*10+i*i), 0)
	}
	if len(r.samples) > 5 || e <= 10 {
		t.Errorf("%d samples kept, rate %v", len(r.samples), e)
	}
}

package bench

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// The lines between which WriteDoc writes the tables.
const (
	DocBegin = "<!-- twbench:begin -->"
	DocEnd   = "<!-- twbench:end -->"
)

// WriteDoc replaces what lies between the lines DocBegin and DocEnd of the
// markdown file path with the tables of results, under a line saying when
// the run began.
func WriteDoc(path string, results []Result, began time.Time) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(doc)
	i, j := strings.Index(text, DocBegin+"\n"), strings.Index(text, "\n"+DocEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s and %s lines to write the tables between", path, DocBegin, DocEnd)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s (`twbench %s`, GOMAXPROCS %d).\n\n", began.UTC().Format("2006-01-02 15:04 MST"),
		strings.Join(os.Args[1:], " "), runtime.GOMAXPROCS(0))
	Markdown(&b, results)
	text = text[:i+len(DocBegin)+1] + b.String() + text[j:]
	return os.WriteFile(path, []byte(text), 0o644)
}

// quantile returns the q-quantile of sorted ds (nearest rank), or 0.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// summary is the one-line progress report of a result.
func summary(r Result) string {
	s := fmt.Sprintf("%9.0f ev/s %11.0f subj/s %6.2f CPU s/M ev (%.2f with Redis)  RSS %s  delay p50 %s p99 %s",
		r.EventsPerSec(), r.SubjectsPerSec(), r.CPUPerMillion(), r.CPUWithRedisPerMillion(), mib(r.MaxRSS),
		dur(quantile(sorted(r.Delays), 0.5)), dur(quantile(sorted(r.Delays), 0.99)))
	if len(r.DecisionDelays) > 0 {
		s += "  decision " + dur(quantile(r.DecisionDelays, 0.5))
	}
	if r.EntityYears > 0 {
		s += fmt.Sprintf("  Redis %s/entity-year", kib(r.RedisBytes/int64(r.EntityYears)))
	}
	if r.Err != "" {
		s += "  ERROR: " + r.Err
	}
	return s
}

func sorted(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func kib(b int64) string {
	if b < 10<<10 {
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
}

// dur prints a delay with a precision that suits it.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// si prints a rate with a k or M suffix.
func si(x float64) string {
	switch {
	case x >= 10e6:
		return fmt.Sprintf("%.0f M", x/1e6)
	case x >= 1e6:
		return fmt.Sprintf("%.2f M", x/1e6)
	case x >= 10e3:
		return fmt.Sprintf("%.0f k", x/1e3)
	case x >= 1e3:
		return fmt.Sprintf("%.1f k", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

// ratio is a/b with two decimals, or – when either is unknown.
func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// Markdown writes the results as the tables of docs/benchmarks.md: one row
// per workload and variant, then the ratios of transferwatch to the ceiling
// and to both baselines per workload.
func Markdown(w io.Writer, results []Result) {
	var b strings.Builder
	b.WriteString("| workload | variant | events/s | subjects/s | CPU s / M events | with Redis | peak RSS | delay p50 | delay p99 | threshold → decision | Redis / entity-year | Redis in / out per event |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		decision, mem := "", ""
		if len(r.DecisionDelays) > 0 {
			decision = fmt.Sprintf("%s (max %s)", dur(quantile(r.DecisionDelays, 0.5)), dur(r.DecisionDelays[len(r.DecisionDelays)-1]))
		}
		if r.EntityYears > 0 {
			mem = kib(r.RedisBytes / int64(r.EntityYears))
		}
		ds := sorted(r.Delays)
		note := ""
		if r.Err != "" {
			note = " ⚠"
		}
		partial := ""
		if r.Partial {
			partial = " †"
		}
		net := ""
		if in, out := r.RedisPerEvent(); in > 0 {
			net = fmt.Sprintf("%.0f B / %.0f B", in, out)
		}
		fmt.Fprintf(&b, "| %s | %s%s | %s%s | %s%s | %.2f | %.2f | %s | %s | %s | %s | %s | %s |\n",
			r.Workload.Label(), r.Variant, note, si(r.EventsPerSec()), partial, si(r.SubjectsPerSec()), partial, r.CPUPerMillion(),
			r.CPUWithRedisPerMillion(), mib(r.MaxRSS), dur(quantile(ds, 0.5)), dur(quantile(ds, 0.99)), decision, mem, net)
	}
	var notes []string
	for _, r := range results {
		if r.Runs > 1 {
			notes = append(notes, fmt.Sprintf("%s, %s: the median of %d runs, whose events/s ranged from %s to %s.",
				r.Workload.Label(), r.Variant, r.Runs, si(r.MinEventsPerSec), si(r.MaxEventsPerSec)))
		}
	}
	if slices.ContainsFunc(results, func(r Result) bool { return r.Partial }) {
		notes = append(notes, "† measured on the part of the backlog handled within the time budget; the rest was skipped.")
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n\n") + "\n")
	}
	b.WriteString("\n| workload | transferwatch / ceiling (events/s) | transferwatch / batched (events/s) | transferwatch / batched (CPU per event) | the same, with Redis' CPU | transferwatch / baseline (events/s) | transferwatch / baseline (CPU per event) | transferwatch / batched (Redis bytes in per event) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	type row struct{ ceiling, baseline, batched, tw *Result }
	var order []string
	rows := make(map[string]*row)
	for i := range results {
		r := &results[i]
		name := r.Workload.Label()
		if rows[name] == nil {
			rows[name] = &row{}
			order = append(order, name)
		}
		switch r.Variant {
		case Ceiling:
			rows[name].ceiling = r
		case Baseline:
			rows[name].baseline = r
		case Batched:
			rows[name].batched = r
		case Transferwatch:
			rows[name].tw = r
		}
	}
	ratios := func(tw, ref *Result) (events, cpu, withRedis string) {
		if ref == nil {
			return "–", "–", "–"
		}
		return ratio(tw.EventsPerSec(), ref.EventsPerSec()), ratio(tw.CPUPerMillion(), ref.CPUPerMillion()),
			ratio(tw.CPUWithRedisPerMillion(), ref.CPUWithRedisPerMillion())
	}
	for _, name := range order {
		x := rows[name]
		if x.tw == nil {
			continue
		}
		c, _, _ := ratios(x.tw, x.ceiling)
		bt, btCPU, btRedis := ratios(x.tw, x.batched)
		bl, blCPU, _ := ratios(x.tw, x.baseline)
		bytesIn := "–"
		if x.batched != nil {
			twIn, _ := x.tw.RedisPerEvent()
			btIn, _ := x.batched.RedisPerEvent()
			bytesIn = ratio(twIn, btIn)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, c, bt, btCPU, btRedis, bl, blCPU, bytesIn)
	}
	var errs []string
	for _, r := range results {
		if r.Err != "" {
			errs = append(errs, fmt.Sprintf("- ⚠ %s, %s: %s", r.Workload.Label(), r.Variant, r.Err))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\n" + strings.Join(errs, "\n") + "\n")
	}
	io.WriteString(w, b.String())
}

package demo

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// ANSI escape sequences of the live view.
const (
	escReset   = "\x1b[0m"
	escBold    = "\x1b[1m"
	escDim     = "\x1b[2m"
	escRed     = "\x1b[31m"
	escGreen   = "\x1b[32m"
	escYellow  = "\x1b[33m"
	escBlue    = "\x1b[34m"
	escMagenta = "\x1b[35m"
	escCyan    = "\x1b[36m"

	escAltScreen  = "\x1b[?1049h" // switch to the alternate screen
	escMainScreen = "\x1b[?1049l" // back to the main screen
	escHideCursor = "\x1b[?25l"
	escShowCursor = "\x1b[?25h"
	escHome       = "\x1b[H" // cursor to the top left corner
	escClearLine  = "\x1b[K" // clear to the end of the line
	escClearBelow = "\x1b[J" // clear to the end of the screen
	barFull       = '█'      // the part of a bar up to the ratio
	barEmpty      = '░'      // the rest
	markBreached  = "● breached"
	markCovered   = "✓ covered"
	maxLogged     = 8 // decision changes shown in the live view
	plainEvery    = 5 // plain mode: status lines every this many ticks
	refreshTTY    = 250 * time.Millisecond
	refreshPlain  = time.Second
)

// info is what the view says about where things are.
type info struct {
	broker, brokerNote string
	http, httpNote     string
	topic, dlq, out    string
	store              string
	token              bool // /v1 requires a bearer token
	policy, timezone   string
	duration           time.Duration
}

// snapshot is the state shown by one frame or one round of status lines.
type snapshot struct {
	now       time.Time
	up        time.Duration
	statuses  []policy.Status
	consumed  float64 // events consumed (valid and invalid)
	invalid   float64
	subjects  float64 // subject occurrences accepted
	rate      float64 // events consumed per second, recently
	subjRate  float64
	sent      int64 // valid events sent by the generator
	sentSubj  int64 // subject occurrences in them
	malformed int64
	backlog   bool // the year-to-date backlog has been sent
}

// change is one decision change read from the decisions topic.
type change struct {
	at  time.Time
	sig decision.Signal
}

// view renders the demo: a live, redrawn screen on a terminal, plain lines
// otherwise. It is used by one goroutine only.
type view struct {
	out   io.Writer
	tty   bool
	color bool
	width func() int // terminal columns
	loc   *time.Location
	info  info

	changes     []change
	deadLetters int
	ticks       int
	last        snapshot
}

// localHost gives a listen address a host a person can type: a wildcard
// host becomes localhost.
func localHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// intro returns the lines that say what runs and where to look.
func (v *view) intro() []string {
	i := v.info
	web := "http://" + localHost(i.http)
	note := func(n string) string {
		if n == "" {
			return ""
		}
		return " (" + n + ")"
	}
	curl := "curl -s "
	if i.token {
		curl = `curl -s -H "Authorization: Bearer $TW_API_TOKEN" `
	}
	run := ""
	if i.duration > 0 {
		run = ", stops after " + i.duration.String()
	}
	return []string{
		fmt.Sprintf("transferwatch demo: the real service on synthetic traffic (policy %s, calendar %s%s)", i.policy, i.timezone, run),
		fmt.Sprintf("  broker  %s%s  in-process Kafka protocol; topics %s, %s, %s", i.broker, note(i.brokerNote), i.topic, i.dlq, i.out),
		fmt.Sprintf("  store   %s", i.store),
		fmt.Sprintf("  http    %s%s", web, note(i.httpNote)),
		"",
		"Look at it while it runs:",
		"  open " + web + "/ui/   (the compliance console, in a browser)",
		"  " + curl + web + "/v1/entities",
		"  " + curl + web + "/v1/entities/" + entityClimbing + "/decision",
		"  curl -s " + web + "/metrics | grep ^transferwatch_",
		"  kcat -C -b " + i.broker + " -t " + i.out + " -o beginning        # block signals",
		"  kcat -C -b " + i.broker + " -t " + i.dlq + " -f '%k %h\\n' -e   # dead letters: key and tw-error",
		"",
	}
}

// outro returns the lines that say how to run the service for real.
func outro() []string {
	return []string{
		"Point the service at a real Kafka and Redis:",
		"  TW_KAFKA_BROKERS=kafka-1:9092,kafka-2:9092 TW_REDIS_ADDRS=redis:6379 \\",
		"  TW_SUBJECT_KEY=$(openssl rand -hex 16) \\",
		"    transferwatch run --config deploy/config.example.yaml",
	}
}

// start prints the introduction; on a terminal it then switches to the
// alternate screen, where the live view is redrawn in place (the
// introduction is there again when the demo ends, followed by the summary).
func (v *view) start() {
	lines := v.intro()
	if !v.tty {
		lines = append(lines, outro()...)
	}
	for _, l := range lines {
		fmt.Fprintln(v.out, l)
	}
	if v.tty {
		fmt.Fprint(v.out, escAltScreen+escHideCursor)
	} else {
		fmt.Fprintln(v.out)
	}
}

// stop leaves the alternate screen; the summary follows on the main screen.
func (v *view) stop() {
	if v.tty {
		fmt.Fprint(v.out, escShowCursor+escMainScreen)
	}
}

// refresh shows a snapshot: a frame on a terminal, and on plain output a
// traffic line and one status line per entity every few refreshes.
func (v *view) refresh(s snapshot) {
	v.last = s
	v.ticks++
	if v.tty {
		v.frame(s)
		return
	}
	if v.ticks%plainEvery != 0 {
		return
	}
	fmt.Fprintln(v.out, v.trafficLine(s))
	for _, st := range s.statuses {
		fmt.Fprintln(v.out, statusLine(st))
	}
}

// decision records a decision change and, on plain output, prints it.
func (v *view) decision(sig decision.Signal, at time.Time) {
	v.changes = append(v.changes, change{at: at, sig: sig})
	if !v.tty {
		fmt.Fprintln(v.out, changeLine(sig))
	}
}

// deadLetter records a record of the dead-letter topic and, on plain
// output, prints its reason (the tw-error header never holds a subject).
func (v *view) deadLetter(m kafka.Message) {
	v.deadLetters++
	if v.tty {
		return
	}
	var reason, src, part, off string
	for _, h := range m.Headers {
		switch h.Key {
		case "tw-error":
			reason = string(h.Value)
		case "tw-source-topic":
			src = string(h.Value)
		case "tw-source-partition":
			part = string(h.Value)
		case "tw-source-offset":
			off = string(h.Value)
		}
	}
	fmt.Fprintf(v.out, "dead letter %s[%s]@%s: %s\n", src, part, off, reason)
}

// changeLine is the plain line of a decision change.
func changeLine(sig decision.Signal) string {
	prev := string(sig.Previous)
	if prev == "" {
		prev = "none"
	}
	s := fmt.Sprintf("decision %s: %s -> %s", sig.Entity, prev, sig.Decision)
	if sig.Previous == sig.Decision {
		// The start-up announcement of a decision already recorded (the
		// store is Redis and kept it from an earlier run).
		s = fmt.Sprintf("decision %s: %s (unchanged, announced at start-up)", sig.Entity, sig.Decision)
	}
	if len(sig.Reasons) > 0 {
		s += " (" + sig.Reasons[0] + ")"
	}
	return s
}

// trafficLine is the plain line of the traffic figures.
func (v *view) trafficLine(s snapshot) string {
	phase := "backlog"
	if s.backlog {
		phase = "live"
	}
	return fmt.Sprintf("traffic %s: consumed %s events (%s/s), %s subjects, %s invalid; sent %s events and %s malformed; %d dead letters",
		phase, thousands(s.consumed), thousands(s.rate), thousands(s.subjects), thousands(s.invalid),
		thousands(float64(s.sent)), thousands(float64(s.malformed)), v.deadLetters)
}

// statusLine is the plain line of one entity: decision, counters of the
// preset's window, and each rule's ratio and level.
func statusLine(st policy.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %s %s", st.Entity, st.Decision)
	w := window(st)
	for _, c := range counters(st) {
		fmt.Fprintf(&b, " %s=%d", c, estimate(st, c, w))
	}
	for _, r := range st.Rules {
		switch {
		case !applies(st, r):
			fmt.Fprintf(&b, " %s=n/a", r.ID)
		case r.Threshold <= 1:
			fmt.Fprintf(&b, " %s=%s", r.ID, r.Level)
		default:
			fmt.Fprintf(&b, " %s=%.3f/%s", r.ID, r.Ratio, r.Level)
		}
		if r.Covered && r.Level != policy.LevelOK {
			b.WriteString("(covered)")
		}
	}
	return b.String()
}

// summary prints the final decisions and what reached the dead-letter topic.
func (v *view) summary(w io.Writer, ran time.Duration, final []policy.Status) {
	s := v.last
	fmt.Fprintf(w, "\ntransferwatch demo stopped after %s.\n", ran.Round(time.Second))
	fmt.Fprintf(w, "  traffic: %s events sent (%s subject occurrences) and %s malformed; %s consumed\n",
		thousands(float64(s.sent)), thousands(float64(s.sentSubj)), thousands(float64(s.malformed)), thousands(s.consumed))
	fmt.Fprintf(w, "  dead letters: %d on %s\n", v.deadLetters, v.info.dlq)
	fmt.Fprintf(w, "  decisions published: %d on %s\n", len(v.changes), v.info.out)
	for _, c := range v.changes {
		fmt.Fprintf(w, "    %s  %s\n", c.at.In(v.loc).Format(time.TimeOnly), changeLine(c.sig))
	}
	if len(final) == 0 {
		fmt.Fprintln(w, "final decisions: none (the service never evaluated an entity)")
	} else {
		fmt.Fprintf(w, "final decisions (policy %s):\n", v.info.policy)
	}
	idw := 0
	for _, st := range final {
		idw = max(idw, len(st.Entity))
	}
	for _, st := range final {
		reason := ""
		if len(st.Reasons) > 0 {
			reason = "  " + st.Reasons[0]
		}
		fmt.Fprintf(w, "  final %-*s %-5s%s\n", idw, st.Entity, st.Decision, reason)
	}
	if v.tty { // the introduction went under the live view: repeat the way on
		fmt.Fprintln(w)
		for _, l := range outro() {
			fmt.Fprintln(w, l)
		}
	}
}

// frame redraws the whole live view from the top of the screen.
func (v *view) frame(s snapshot) {
	width := max(60, v.width())
	var lines []string
	add := func(l string) { lines = append(lines, l) }
	i := v.info
	web := localHost(i.http)

	clock := s.now.In(v.loc).Format("2006-01-02 15:04:05")
	head := fmt.Sprintf("transferwatch demo · %s · %s %s · up %s", i.policy, i.timezone, clock, clockDur(s.up))
	if i.duration > 0 {
		head += " · stops in " + clockDur(max(0, i.duration-s.up))
	}
	add(v.paint(truncate(head, width), escBold))
	phase := v.paint("backlog since 1 January", escYellow)
	if s.backlog {
		phase = v.paint("live", escGreen)
	}
	add(truncate(fmt.Sprintf("ingest %s events/s · %s subjects/s · %s events · %s invalid → %d dead letters · traffic: ",
		thousands(s.rate), thousands(s.subjRate), thousands(s.consumed), thousands(s.invalid), v.deadLetters), width-24) + phase)
	add(v.paint(truncate(fmt.Sprintf("look   curl -s %s/v1/entities · %s/metrics · kcat -C -b %s -t %s",
		web, web, i.broker, i.out), width), escDim))
	add("")

	if len(s.statuses) == 0 {
		add("waiting for the first evaluation…")
	} else {
		lines = append(lines, v.table(s.statuses, width)...)
	}
	add("")
	add(v.paint("decision changes", escBold))
	from := max(0, len(v.changes)-maxLogged)
	for _, c := range v.changes[from:] {
		sig := c.sig
		prev := string(sig.Previous)
		if prev == "" {
			prev = "none"
		}
		reason := ""
		if len(sig.Reasons) > 0 {
			reason = sig.Reasons[0]
		}
		txt := fmt.Sprintf("%s  %-14s %5s → ", c.at.In(v.loc).Format(time.TimeOnly), sig.Entity, prev)
		rest := truncate(reason, max(0, width-utf8.RuneCountInString(txt)-7))
		add(txt + v.decisionCell(sig.Decision, 5) + "  " + v.paint(rest, escDim))
	}
	if len(v.changes) == 0 {
		add(v.paint("none yet", escDim))
	}
	add("")
	add(v.paint("Ctrl-C stops the demo · logs: stderr (JSON)", escDim))

	var b strings.Builder
	b.WriteString(escHome)
	for _, l := range lines {
		b.WriteString(clip(l, width-1))
		b.WriteString(escClearLine + "\n")
	}
	b.WriteString(escClearBelow)
	_, _ = io.WriteString(v.out, b.String())
}

// table renders one row per entity: decision, counters, a bar per rule
// with a threshold and a mark per rule that fires at ≥ 1, and the first
// reason underneath.
func (v *view) table(sts []policy.Status, width int) []string {
	first := sts[0]
	cs := counters(first)
	w := window(first)
	idw := 6
	for _, st := range sts {
		idw = max(idw, min(24, len(st.Entity)))
	}
	const numw = 10
	var bars, marks []policy.RuleReport
	for _, r := range first.Rules {
		if r.Threshold <= 1 {
			marks = append(marks, r)
		} else {
			bars = append(bars, r)
		}
	}
	markw := func(r policy.RuleReport) int { return max(len(r.ID), utf8.RuneCountInString(markCovered)) }
	fixed := idw + 2 + 7 + len(cs)*(numw+1) + 2 + 1
	for _, r := range marks {
		fixed += markw(r) + 2
	}
	barw := 4
	if len(bars) > 0 {
		barw = min(24, max(4, (width-fixed)/len(bars)-8))
	}
	colw := func(r policy.RuleReport) int { return max(barw+7, len(r.ID)) }

	var h strings.Builder
	h.WriteString(pad("ENTITY", idw) + "  " + pad("DECISION", 7))
	for _, c := range cs {
		h.WriteString(" " + lpad(strings.ToUpper(string(c)), numw))
	}
	h.WriteString("  ")
	for _, r := range bars {
		h.WriteString(pad(r.ID, colw(r)) + " ")
	}
	for _, r := range marks {
		h.WriteString(pad(r.ID, markw(r)) + "  ")
	}
	out := []string{v.paint(h.String(), escBold),
		v.paint(truncate(fmt.Sprintf("%*s  %s since %s", idw+9, "", "distinct people", windowStart(first, w)), width), escDim)}

	for _, st := range sts {
		var b strings.Builder
		b.WriteString(pad(truncate(st.Entity, idw), idw) + "  " + v.decisionCell(st.Decision, 7))
		for _, c := range cs {
			b.WriteString(" " + lpad(thousands(float64(estimate(st, c, w))), numw))
		}
		b.WriteString("  ")
		for _, r := range bars {
			rr, ok := rule(st, r.ID)
			cell := pad("", colw(r))
			if ok {
				cell = v.barCell(st, rr, barw, colw(r))
			}
			b.WriteString(cell + " ")
		}
		for _, r := range marks {
			rr, ok := rule(st, r.ID)
			mark := "·"
			code := escDim
			switch {
			case !ok || !applies(st, rr):
				mark = "–"
			case rr.Level == policy.LevelBreached && rr.Covered:
				mark, code = markCovered, escCyan
			case rr.Level == policy.LevelBreached:
				mark, code = markBreached, escRed+escBold
			}
			b.WriteString(v.paint(pad(mark, markw(r)), code) + "  ")
		}
		out = append(out, b.String())
		if len(st.Reasons) > 0 {
			out = append(out, v.paint(truncate("  ↳ "+st.Reasons[0], width), escDim))
		}
	}
	return out
}

// barCell renders a rule's ratio as a bar of width w, the ratio, and a
// mark when an approval covers it, padded to cellw.
func (v *view) barCell(st policy.Status, r policy.RuleReport, w, cellw int) string {
	if !applies(st, r) {
		return pad("–", cellw)
	}
	filled := int(min(1, r.Ratio)*float64(w) + 0.5)
	bar := strings.Repeat(string(barFull), filled) + strings.Repeat(string(barEmpty), w-filled)
	txt := fmt.Sprintf(" %5.3f", r.Ratio)
	code := levelColor(r.Level)
	if r.Covered && r.Level != policy.LevelOK {
		code = escCyan
	}
	return v.paint(bar, code) + pad(txt, cellw-w)
}

// decisionCell renders a decision, colored, padded to w.
func (v *view) decisionCell(d policy.Decision, w int) string {
	code := escGreen
	switch d {
	case policy.Warn:
		code = escYellow + escBold
	case policy.Block:
		code = escRed + escBold
	}
	return v.paint(pad(strings.ToUpper(string(d)), w), code)
}

// levelColor is the color of a rule at level l.
func levelColor(l policy.Level) string {
	switch l {
	case policy.LevelNotice:
		return escBlue
	case policy.LevelWarning:
		return escYellow
	case policy.LevelCritical:
		return escMagenta
	case policy.LevelBreached:
		return escRed
	}
	return escGreen
}

// paint wraps s in an escape sequence when colors are on.
func (v *view) paint(s, code string) string {
	if !v.color || s == "" {
		return s
	}
	return code + s + escReset
}

// window returns the window of the status's rules with a threshold (every
// rule of a preset counts in the same window).
func window(st policy.Status) sketch.Window {
	if len(st.Rules) == 0 {
		return sketch.SincePrevJan1
	}
	return st.Rules[0].Window
}

// windowStart returns the first day of window w in the status.
func windowStart(st policy.Status, w sketch.Window) string {
	for _, c := range st.Counters {
		if c.Window == w {
			return c.WindowStart.String()
		}
	}
	return "1 January"
}

// counters returns the counters the status's rules hold, in the order of
// sketch.Counters, with personal always first.
func counters(st policy.Status) []sketch.Counter {
	used := map[sketch.Counter]bool{sketch.Personal: true}
	for _, r := range st.Rules {
		used[r.Counter] = true
	}
	var out []sketch.Counter
	for _, c := range sketch.Counters {
		if used[c] {
			out = append(out, c)
		}
	}
	return out
}

// estimate returns the estimate of counter c in window w.
func estimate(st policy.Status, c sketch.Counter, w sketch.Window) uint64 {
	for _, r := range st.Counters {
		if r.Counter == c && r.Window == w {
			return r.Estimate
		}
	}
	return 0
}

// rule returns the report of rule id.
func rule(st policy.Status, id string) (policy.RuleReport, bool) {
	for _, r := range st.Rules {
		if r.ID == id {
			return r, true
		}
	}
	return policy.RuleReport{}, false
}

// applies reports whether rule r applies to the entity: the ciio rule
// applies only to critical information infrastructure operators.
func applies(st policy.Status, r policy.RuleReport) bool {
	return r.ID != "ciio" || st.CIIO
}

// thousands formats a non-negative number rounded to an integer with
// thousands separators: 1234567 → "1,234,567".
func thousands(f float64) string {
	n := int64(f + 0.5)
	if f < 0 {
		n = int64(f - 0.5)
	}
	return i18n.Int(n)
}

// clockDur formats d as m:ss or h:mm:ss.
func clockDur(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// pad pads s with spaces to w runes.
func pad(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// lpad pads s on the left with spaces to w runes.
func lpad(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

// truncate cuts s to at most w runes, ending with "…" when cut.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	return string(r[:w-1]) + "…"
}

// clip cuts a line that may hold escape sequences to w visible runes,
// ending with "…" and a reset of the colors when cut.
func clip(s string, w int) string {
	if utf8.RuneCountInString(stripEscapes(s)) <= w {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if j := escapeEnd(s, i); j > i {
			b.WriteString(s[i:j])
			i = j
			continue
		}
		if n == w-1 {
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		n++
		i += size
	}
	b.WriteString("…" + escReset)
	return b.String()
}

// stripEscapes removes the escape sequences of s.
func stripEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if j := escapeEnd(s, i); j > i {
			i = j
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// escapeEnd returns the end of the CSI escape sequence starting at s[i],
// or i when none starts there.
func escapeEnd(s string, i int) int {
	if i+1 >= len(s) || s[i] != 0x1b || s[i+1] != '[' {
		return i
	}
	j := i + 2
	for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
		j++
	}
	return min(j+1, len(s))
}

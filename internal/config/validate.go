package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// Limits of the validation.
const (
	// MinFlushInterval and MaxFlushInterval bound flush_interval.
	MinFlushInterval = 100 * time.Millisecond
	MaxFlushInterval = time.Hour
	// MaxLeadDays bounds renewal_lead_days and forecast_lead_days (ten years).
	MaxLeadDays = 3650
	// MinSessionTimeout and MaxSessionTimeout bound kafka.session_timeout:
	// the brokers' default group.min/max.session.timeout.ms.
	MinSessionTimeout = 6 * time.Second
	MaxSessionTimeout = 30 * time.Minute
	// MinReannounceInterval and MaxReannounceInterval bound
	// decisions.reannounce_interval.
	MinReannounceInterval = time.Minute
	MaxReannounceInterval = 7 * 24 * time.Hour
	// MinMaxStaleness and MaxMaxStaleness bound http.max_staleness: at
	// least a few evaluation rounds, at most an hour.
	MinMaxStaleness = 10 * time.Second
	MaxMaxStaleness = time.Hour
	// MaxMaxEntities bounds limits.max_entities.
	MaxMaxEntities = 1_000_000
	// MaxMaxFlows bounds limits.max_flows_per_entity.
	MaxMaxFlows = 100_000
)

var (
	// kafkaTopic is the pattern of legal Kafka topic names.
	kafkaTopic = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	// keyPrefix keeps Redis keys readable and free of hash-tag braces.
	keyPrefix = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

// Validate checks the whole configuration and returns every problem found,
// joined, one per line "<field path>: <what is wrong>"; each wraps
// ErrRequired, ErrInvalid, ErrDuplicate or ErrConflict. It reads no file:
// the files named are read by Resolve.
func (c *Config) Validate() error {
	var p problems
	checkTimezone(&p, c.Timezone)
	if c.FlushInterval < MinFlushInterval || c.FlushInterval > MaxFlushInterval {
		p.add("flush_interval", ErrInvalid, "must be between %s and %s, got %s", MinFlushInterval, MaxFlushInterval, c.FlushInterval)
	}
	c.Kafka.validate(&p)
	c.Redis.validate(&p)
	c.HTTP.validate(&p)
	c.Policy.validate(&p)
	c.Decisions.validate(&p)
	c.Limits.validate(&p)
	validateEntities(&p, c.Entities, c.Policy.Preset)
	return p.join()
}

// checkTimezone loads tz, recording a problem on "timezone" when it cannot.
func checkTimezone(p *problems, tz string) (*time.Location, bool) {
	if tz == "" {
		p.add("timezone", ErrRequired, "must not be empty (an IANA time zone such as Asia/Shanghai)")
		return nil, false
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		p.add("timezone", ErrInvalid, "unknown time zone %q", tz)
		return nil, false
	}
	return loc, true
}

func (k *Kafka) validate(p *problems) {
	checkAddrs(p, "kafka.brokers", k.Brokers)
	topics := []struct{ field, name string }{
		{"kafka.topic", k.Topic},
		{"kafka.dead_letter_topic", k.DeadLetterTopic},
		{"kafka.decisions_topic", k.DecisionsTopic},
	}
	for i, t := range topics {
		switch {
		case t.name == "":
			p.add(t.field, ErrRequired, "must not be empty")
		case !kafkaTopic.MatchString(t.name) || t.name == "." || t.name == "..":
			p.add(t.field, ErrInvalid, "%q must be 1-249 characters of A-Za-z0-9._-", t.name)
		default:
			for _, o := range topics[:i] {
				if o.name == t.name {
					p.add(t.field, ErrConflict, "must differ from %s", o.field)
					break
				}
			}
		}
	}
	if k.GroupID == "" {
		p.add("kafka.group_id", ErrRequired, "must not be empty")
	}
	// Kafka brokers accept session timeouts between group.min (6 s) and
	// group.max (30 min) by default.
	if k.SessionTimeout < MinSessionTimeout || k.SessionTimeout > MaxSessionTimeout {
		p.add("kafka.session_timeout", ErrInvalid, "must be between %s and %s, got %s", MinSessionTimeout, MaxSessionTimeout, k.SessionTimeout)
	}
	tls := k.TLS
	if tls.CertFile != "" && tls.KeyFile == "" {
		p.add("kafka.tls.key_file", ErrRequired, "required with kafka.tls.cert_file")
	}
	if tls.KeyFile != "" && tls.CertFile == "" {
		p.add("kafka.tls.cert_file", ErrRequired, "required with kafka.tls.key_file")
	}
	if !tls.Enabled {
		checkUnusedTLS(p, "kafka.tls", map[string]bool{
			"ca_file":              tls.CAFile != "",
			"cert_file":            tls.CertFile != "",
			"key_file":             tls.KeyFile != "",
			"insecure_skip_verify": tls.InsecureSkipVerify,
		})
	}
	sasl := k.SASL
	switch sasl.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if sasl.Username == "" {
			p.add("kafka.sasl.username", ErrRequired, "required with mechanism %s", sasl.Mechanism)
		}
		if sasl.Password == "" {
			p.add("kafka.sasl.password", ErrRequired, "required with mechanism %s", sasl.Mechanism)
		}
	case "":
		if sasl.Username != "" || sasl.Password != "" {
			p.add("kafka.sasl.mechanism", ErrRequired, "required when kafka.sasl.username or password is set (plain, scram-sha-256 or scram-sha-512)")
		}
	default:
		p.add("kafka.sasl.mechanism", ErrInvalid, `must be "", plain, scram-sha-256 or scram-sha-512, got %q`, sasl.Mechanism)
	}
}

func (r *Redis) validate(p *problems) {
	checkAddrs(p, "redis.addrs", r.Addrs)
	switch {
	case r.DB < 0:
		p.add("redis.db", ErrInvalid, "must not be negative, got %d", r.DB)
	case r.DB != 0 && len(r.Addrs) > 1:
		p.add("redis.db", ErrConflict, "must be 0 when redis.addrs names a cluster (several addresses)")
	}
	if !r.TLS.Enabled {
		checkUnusedTLS(p, "redis.tls", map[string]bool{
			"ca_file":              r.TLS.CAFile != "",
			"insecure_skip_verify": r.TLS.InsecureSkipVerify,
		})
	}
	switch {
	case r.KeyPrefix == "":
		p.add("redis.key_prefix", ErrRequired, "must not be empty")
	case !keyPrefix.MatchString(r.KeyPrefix):
		p.add("redis.key_prefix", ErrInvalid, "%q must be 1-64 characters of A-Za-z0-9._:-", r.KeyPrefix)
	}
}

// checkUnusedTLS reports TLS settings given while TLS is disabled: they
// would be silently ignored, and a connection meant to be secure would not be.
func checkUnusedTLS(p *problems, prefix string, set map[string]bool) {
	for _, name := range []string{"ca_file", "cert_file", "key_file", "insecure_skip_verify"} {
		if set[name] {
			p.add(prefix+"."+name, ErrConflict, "set while %s.enabled is false", prefix)
		}
	}
}

func (h *HTTP) validate(p *problems) {
	if h.Addr == "" {
		p.add("http.addr", ErrRequired, "must not be empty")
	} else if msg := checkHostPort(h.Addr, false); msg != "" {
		p.add("http.addr", ErrInvalid, "%q %s", h.Addr, msg)
	}
	if h.MaxStaleness < MinMaxStaleness || h.MaxStaleness > MaxMaxStaleness {
		p.add("http.max_staleness", ErrInvalid, "must be between %s and %s, got %s", MinMaxStaleness, MaxMaxStaleness, h.MaxStaleness)
	}
}

func (d *Decisions) validate(p *problems) {
	if d.ReannounceInterval < MinReannounceInterval || d.ReannounceInterval > MaxReannounceInterval {
		p.add("decisions.reannounce_interval", ErrInvalid, "must be between %s and %s, got %s", MinReannounceInterval, MaxReannounceInterval, d.ReannounceInterval)
	}
}

func (l *Limits) validate(p *problems) {
	if l.MaxEntities < 1 || l.MaxEntities > MaxMaxEntities {
		p.add("limits.max_entities", ErrInvalid, "must be between 1 and %d, got %d", MaxMaxEntities, l.MaxEntities)
	}
	if l.MaxFlowsPerEntity < 1 || l.MaxFlowsPerEntity > MaxMaxFlows {
		p.add("limits.max_flows_per_entity", ErrInvalid, "must be between 1 and %d, got %d", MaxMaxFlows, l.MaxFlowsPerEntity)
	}
}

func (pol *Policy) validate(p *problems) {
	switch pol.Preset {
	case PresetCAC2022, PresetCAC2024:
	case "":
		p.add("policy.preset", ErrRequired, "must be cac-2022 or cac-2024")
	default:
		p.add("policy.preset", ErrInvalid, "must be cac-2022 or cac-2024, got %q", pol.Preset)
	}
	l := pol.Levels
	if !(0 < l.Notice && l.Notice < l.Warning && l.Warning < l.Critical && l.Critical < 1) {
		p.add("policy.levels", ErrInvalid, "must satisfy 0 < notice < warning < critical < 1, got %v < %v < %v", l.Notice, l.Warning, l.Critical)
	}
	switch pol.Estimate {
	case EstimateUpperBound, EstimatePoint:
	case "":
		p.add("policy.estimate", ErrRequired, "must be upper_bound or point")
	default:
		p.add("policy.estimate", ErrInvalid, "must be upper_bound or point, got %q", pol.Estimate)
	}
	checkLeadDays(p, "policy.renewal_lead_days", pol.RenewalLeadDays)
	checkLeadDays(p, "policy.forecast_lead_days", pol.ForecastLeadDays)
	switch pol.UnknownEntities {
	case UnknownAccept, UnknownDeadLetter:
	case "":
		p.add("policy.unknown_entities", ErrRequired, "must be accept or dead_letter")
	default:
		p.add("policy.unknown_entities", ErrInvalid, "must be accept or dead_letter, got %q", pol.UnknownEntities)
	}
}

func checkLeadDays(p *problems, field string, days int) {
	if days < 0 || days > MaxLeadDays {
		p.add(field, ErrInvalid, "must be between 0 and %d days, got %d", MaxLeadDays, days)
	}
}

// MaxProcessedSubjects bounds entities[].processed_subjects: more people
// than live on Earth is a typo.
const MaxProcessedSubjects = 10_000_000_000

// MaxFTZLength bounds entities[].ftz.
const MaxFTZLength = 128

func validateEntities(p *problems, entities []Entity, preset string) {
	first := make(map[string]int, len(entities))
	for i, e := range entities {
		field := fmt.Sprintf("entities[%d]", i)
		switch j, dup := first[e.ID]; {
		case e.ID == "":
			p.add(field+".id", ErrRequired, "must not be empty")
		case !event.ValidEntityID(e.ID):
			p.add(field+".id", ErrInvalid, "%q must be %s", e.ID, event.EntityIDRule)
		case dup:
			p.add(field+".id", ErrDuplicate, "duplicate of entities[%d]", j)
		default:
			first[e.ID] = i
		}
		if len(e.FTZ) > MaxFTZLength || strings.ContainsFunc(e.FTZ, unicode.IsControl) || e.FTZ != strings.TrimSpace(e.FTZ) {
			p.add(field+".ftz", ErrInvalid, "must be the name of a free-trade zone, at most %d bytes on one line without surrounding spaces", MaxFTZLength)
		}
		if e.Employees < 0 {
			p.add(field+".employees", ErrInvalid, "must not be negative (0: unknown), got %d", e.Employees)
		}
		if e.ProcessedSubjects < 0 || e.ProcessedSubjects > MaxProcessedSubjects {
			p.add(field+".processed_subjects", ErrInvalid, "must be between 0 and %d, got %d", int64(MaxProcessedSubjects), e.ProcessedSubjects)
		}
		for k, a := range e.Approvals {
			a.validate(p, fmt.Sprintf("%s.approvals[%d]", field, k), preset)
		}
	}
}

// name names the approval in a problem: its reference and mechanism.
func (a *Approval) name() string {
	if a.Reference == "" {
		return fmt.Sprintf("approval (%s, no reference)", a.Mechanism)
	}
	return fmt.Sprintf("approval %q (%s)", a.Reference, a.Mechanism)
}

func (a *Approval) validate(p *problems, field, preset string) {
	switch a.Mechanism {
	case MechanismSecurityAssessment, MechanismStandardContract, MechanismCertification:
	case "":
		p.add(field+".mechanism", ErrRequired, "must be security_assessment, standard_contract or certification")
	default:
		p.add(field+".mechanism", ErrInvalid, "must be security_assessment, standard_contract or certification, got %q", a.Mechanism)
	}
	switch a.Status {
	case StatusApproved, StatusPending, StatusRejected:
	case "":
		p.add(field+".status", ErrRequired, "must be approved, pending or rejected")
	default:
		p.add(field+".status", ErrInvalid, "must be approved, pending or rejected, got %q", a.Status)
	}
	if a.Status == StatusApproved {
		if a.ValidFrom.IsZero() {
			p.add(field+".valid_from", ErrRequired, "required for an approved approval")
		}
		if a.ValidUntil.IsZero() {
			p.add(field+".valid_until", ErrRequired, "required for an approved approval")
		}
	}
	if !a.ValidFrom.IsZero() && !a.ValidUntil.IsZero() && !a.ValidUntil.After(a.ValidFrom) {
		p.add(field+".valid_until", ErrInvalid, "must be after valid_from (%s), got %s", a.ValidFrom, a.ValidUntil)
	}
	// The legal term: a validity beyond it is almost certainly a typo,
	// which must not silently cover.
	if years, ok := policy.LegalTerm(preset, policy.Mechanism(a.Mechanism)); ok && !a.ValidFrom.IsZero() && !a.ValidUntil.IsZero() &&
		(preset == PresetCAC2022 || preset == PresetCAC2024) {
		end := civil.NewDate(a.ValidFrom.Year+years, a.ValidFrom.Month, a.ValidFrom.Day)
		if a.ValidUntil.After(end) {
			p.add(field+".valid_until", ErrInvalid, "%s: valid %s to %s, beyond the legal term of %d years under %s (%s): must be %s or earlier",
				a.name(), a.ValidFrom, a.ValidUntil, years, preset, policy.LegalTermBasis(preset, policy.Mechanism(a.Mechanism)), end)
		}
	}
	if !a.FiledOn.IsZero() && a.Mechanism != MechanismStandardContract {
		p.add(field+".filed_on", ErrConflict, "%s: only a standard contract is filed (Standard Contract Measures Art. 7); remove filed_on", a.name())
	}
	if a.Scope != nil {
		a.Scope.validate(p, field+".scope", a.name())
	}
}

// alpha2 reports whether d has the form of an ISO 3166-1 alpha-2 code, as
// events carry it: two upper-case letters.
func alpha2(d string) bool {
	return len(d) == 2 && 'A' <= d[0] && d[0] <= 'Z' && 'A' <= d[1] && d[1] <= 'Z'
}

func (s *Scope) validate(p *problems, field, approval string) {
	for i, r := range s.Recipients {
		if r == "" {
			p.add(fmt.Sprintf("%s.recipients[%d]", field, i), ErrInvalid, "%s: a recipient must not be empty", approval)
		} else if j := slices.Index(s.Recipients[:i], r); j >= 0 {
			p.add(fmt.Sprintf("%s.recipients[%d]", field, i), ErrDuplicate, "%s: %q duplicates recipients[%d]", approval, r, j)
		}
	}
	for i, d := range s.Destinations {
		if !alpha2(d) {
			p.add(fmt.Sprintf("%s.destinations[%d]", field, i), ErrInvalid, "%s: must be an ISO 3166-1 alpha-2 code in upper case (like US or GB), got %q", approval, d)
		} else if j := slices.Index(s.Destinations[:i], d); j >= 0 {
			p.add(fmt.Sprintf("%s.destinations[%d]", field, i), ErrDuplicate, "%s: %q duplicates destinations[%d]", approval, d, j)
		}
	}
	for i, c := range s.Categories {
		if _, ok := sketch.ParseCategory(c); !ok {
			p.add(fmt.Sprintf("%s.categories[%d]", field, i), ErrInvalid, "%s: must be personal, sensitive or important_data, got %q", approval, c)
		} else if j := slices.Index(s.Categories[:i], c); j >= 0 {
			p.add(fmt.Sprintf("%s.categories[%d]", field, i), ErrDuplicate, "%s: %q duplicates categories[%d]", approval, c, j)
		}
	}
	if s.MaxSubjects < 0 {
		p.add(field+".max_subjects", ErrInvalid, "%s: must be 0 (none stated) or more, got %d", approval, s.MaxSubjects)
	}
}

// checkAddrs checks a non-empty list of host:port addresses.
func checkAddrs(p *problems, field string, addrs []string) {
	if len(addrs) == 0 {
		p.add(field, ErrRequired, "must not be empty")
		return
	}
	seen := make(map[string]int, len(addrs))
	for i, a := range addrs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if msg := checkHostPort(a, true); msg != "" {
			p.add(f, ErrInvalid, "%q %s", a, msg)
		} else if j, dup := seen[a]; dup {
			p.add(f, ErrDuplicate, "duplicate of %s[%d]", field, j)
		} else {
			seen[a] = i
		}
	}
}

// checkHostPort returns what is wrong with addr as host:port, or "".
// A listen address (needHost false) may leave the host empty and use port 0.
func checkHostPort(addr string, needHost bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "must be host:port"
	}
	if needHost && host == "" {
		return "must be host:port with a host"
	}
	if strings.ContainsAny(host, " \t\r\n/") {
		return "has an invalid host"
	}
	n, err := strconv.Atoi(port)
	lo := 1
	if !needHost {
		lo = 0
	}
	if err != nil || n < lo || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Sprintf("must be host:port with a port between %d and 65535", lo)
	}
	return ""
}

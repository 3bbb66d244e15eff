package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/civil"
)

// validConfig returns a valid configuration with two entities, so that
// each case below breaks exactly one rule.
func validConfig() *Config {
	c := Default()
	c.Entities = []Entity{
		{ID: "acme-sh", Name: "Acme", Approvals: []Approval{{
			Mechanism: MechanismSecurityAssessment, Status: StatusApproved, Reference: "CAC-1",
			ValidFrom: civil.NewDate(2025, 3, 1), ValidUntil: civil.NewDate(2027, 3, 1),
		}}},
		{ID: "acme-bj", Approvals: []Approval{{Mechanism: MechanismStandardContract, Status: StatusPending}}},
	}
	return c
}

// problemLine returns the line of err that reports field, or "".
func problemLine(err error, field string) string {
	if err == nil {
		return ""
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if strings.HasPrefix(line, field+": ") {
			return line
		}
	}
	return ""
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		field  string // the field path the problem must name
		want   string // a part of the message
		is     error  // the sentinel the problem wraps
	}{
		{"timezone empty", func(c *Config) { c.Timezone = "" }, "timezone", "must not be empty", ErrRequired},
		{"timezone unknown", func(c *Config) { c.Timezone = "Mars/Olympus" }, "timezone", `unknown time zone "Mars/Olympus"`, ErrInvalid},
		{"flush too short", func(c *Config) { c.FlushInterval = 99 * time.Millisecond }, "flush_interval", "must be between 100ms and 1h", ErrInvalid},
		{"flush too long", func(c *Config) { c.FlushInterval = time.Hour + time.Second }, "flush_interval", "must be between 100ms and 1h", ErrInvalid},
		{"flush zero", func(c *Config) { c.FlushInterval = 0 }, "flush_interval", "must be between", ErrInvalid},

		{"brokers empty", func(c *Config) { c.Kafka.Brokers = nil }, "kafka.brokers", "must not be empty", ErrRequired},
		{"broker without port", func(c *Config) { c.Kafka.Brokers = []string{"kafka"} }, "kafka.brokers[0]", `"kafka" must be host:port`, ErrInvalid},
		{"broker without host", func(c *Config) { c.Kafka.Brokers = []string{"k:9092", ":9092"} }, "kafka.brokers[1]", "with a host", ErrInvalid},
		{"broker bad port", func(c *Config) { c.Kafka.Brokers = []string{"k:99999"} }, "kafka.brokers[0]", "port between 1 and 65535", ErrInvalid},
		{"broker duplicate", func(c *Config) { c.Kafka.Brokers = []string{"k:1", "k:2", "k:1"} }, "kafka.brokers[2]", "duplicate of kafka.brokers[0]", ErrDuplicate},
		{"topic empty", func(c *Config) { c.Kafka.Topic = "" }, "kafka.topic", "must not be empty", ErrRequired},
		{"topic illegal", func(c *Config) { c.Kafka.Topic = "a topic" }, "kafka.topic", "A-Za-z0-9._-", ErrInvalid},
		{"topic dot", func(c *Config) { c.Kafka.Topic = ".." }, "kafka.topic", "A-Za-z0-9._-", ErrInvalid},
		{"group empty", func(c *Config) { c.Kafka.GroupID = "" }, "kafka.group_id", "must not be empty", ErrRequired},
		{"dlq empty", func(c *Config) { c.Kafka.DeadLetterTopic = "" }, "kafka.dead_letter_topic", "must not be empty", ErrRequired},
		{"dlq same as topic", func(c *Config) { c.Kafka.DeadLetterTopic = c.Kafka.Topic }, "kafka.dead_letter_topic", "must differ from kafka.topic", ErrConflict},
		{"decisions empty", func(c *Config) { c.Kafka.DecisionsTopic = "" }, "kafka.decisions_topic", "must not be empty", ErrRequired},
		{"decisions same as dlq", func(c *Config) { c.Kafka.DecisionsTopic = c.Kafka.DeadLetterTopic }, "kafka.decisions_topic", "must differ from kafka.dead_letter_topic", ErrConflict},
		{"tls cert without key", func(c *Config) { c.Kafka.TLS = KafkaTLS{Enabled: true, CertFile: "c.pem"} }, "kafka.tls.key_file", "required with kafka.tls.cert_file", ErrRequired},
		{"tls key without cert", func(c *Config) { c.Kafka.TLS = KafkaTLS{Enabled: true, KeyFile: "k.pem"} }, "kafka.tls.cert_file", "required with kafka.tls.key_file", ErrRequired},
		{"tls ca while disabled", func(c *Config) { c.Kafka.TLS.CAFile = "ca.pem" }, "kafka.tls.ca_file", "set while kafka.tls.enabled is false", ErrConflict},
		{"tls skip verify while disabled", func(c *Config) { c.Kafka.TLS.InsecureSkipVerify = true }, "kafka.tls.insecure_skip_verify", "set while kafka.tls.enabled is false", ErrConflict},
		{"sasl unknown mechanism", func(c *Config) { c.Kafka.SASL.Mechanism = "gssapi" }, "kafka.sasl.mechanism", `got "gssapi"`, ErrInvalid},
		{"sasl upper case mechanism", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "PLAIN", Username: "u", Password: "p"} }, "kafka.sasl.mechanism", "plain, scram-sha-256 or scram-sha-512", ErrInvalid},
		{"sasl plain without username", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: SASLPlain, Password: "p"} }, "kafka.sasl.username", "required with mechanism plain", ErrRequired},
		{"sasl scram without password", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: SASLScramSHA512, Username: "u"} }, "kafka.sasl.password", "required with mechanism scram-sha-512", ErrRequired},
		{"sasl credentials without mechanism", func(c *Config) { c.Kafka.SASL = SASL{Username: "u", Password: "p"} }, "kafka.sasl.mechanism", "required when", ErrRequired},

		{"redis addrs empty", func(c *Config) { c.Redis.Addrs = []string{} }, "redis.addrs", "must not be empty", ErrRequired},
		{"redis addr bad", func(c *Config) { c.Redis.Addrs = []string{"redis:6379", "redis 2:6379"} }, "redis.addrs[1]", "invalid host", ErrInvalid},
		{"redis db negative", func(c *Config) { c.Redis.DB = -1 }, "redis.db", "must not be negative", ErrInvalid},
		{"redis db on cluster", func(c *Config) { c.Redis.DB = 2; c.Redis.Addrs = []string{"a:1", "b:1"} }, "redis.db", "must be 0 when redis.addrs names a cluster (several addresses)", ErrConflict},
		{"redis tls ca while disabled", func(c *Config) { c.Redis.TLS.CAFile = "ca.pem" }, "redis.tls.ca_file", "set while redis.tls.enabled is false", ErrConflict},
		{"redis prefix empty", func(c *Config) { c.Redis.KeyPrefix = "" }, "redis.key_prefix", "must not be empty", ErrRequired},
		{"redis prefix with braces", func(c *Config) { c.Redis.KeyPrefix = "{tw}" }, "redis.key_prefix", "A-Za-z0-9._:-", ErrInvalid},

		{"http addr empty", func(c *Config) { c.HTTP.Addr = "" }, "http.addr", "must not be empty", ErrRequired},
		{"http addr without port", func(c *Config) { c.HTTP.Addr = "8080" }, "http.addr", `"8080" must be host:port`, ErrInvalid},
		{"http addr named port", func(c *Config) { c.HTTP.Addr = ":http" }, "http.addr", "port between 0 and 65535", ErrInvalid},

		{"preset empty", func(c *Config) { c.Policy.Preset = "" }, "policy.preset", "must be cac-2022 or cac-2024", ErrRequired},
		{"preset unknown", func(c *Config) { c.Policy.Preset = "x" }, "policy.preset", `must be cac-2022 or cac-2024, got "x"`, ErrInvalid},
		{"levels zero notice", func(c *Config) { c.Policy.Levels.Notice = 0 }, "policy.levels", "must satisfy 0 < notice < warning < critical < 1", ErrInvalid},
		{"levels unordered", func(c *Config) { c.Policy.Levels = Levels{0.9, 0.8, 0.95} }, "policy.levels", "0 < notice < warning < critical < 1", ErrInvalid},
		{"levels equal", func(c *Config) { c.Policy.Levels = Levels{0.7, 0.7, 0.95} }, "policy.levels", "0 < notice < warning < critical < 1", ErrInvalid},
		{"levels critical one", func(c *Config) { c.Policy.Levels.Critical = 1 }, "policy.levels", "0 < notice < warning < critical < 1", ErrInvalid},
		{"levels NaN", func(c *Config) { c.Policy.Levels.Warning = math.NaN() }, "policy.levels", "0 < notice < warning < critical < 1", ErrInvalid},
		{"estimate empty", func(c *Config) { c.Policy.Estimate = "" }, "policy.estimate", "must be upper_bound or point", ErrRequired},
		{"estimate unknown", func(c *Config) { c.Policy.Estimate = "mean" }, "policy.estimate", `got "mean"`, ErrInvalid},
		{"renewal negative", func(c *Config) { c.Policy.RenewalLeadDays = -1 }, "policy.renewal_lead_days", "must be between 0 and 3650", ErrInvalid},
		{"forecast negative", func(c *Config) { c.Policy.ForecastLeadDays = -5 }, "policy.forecast_lead_days", "got -5", ErrInvalid},
		{"forecast too far", func(c *Config) { c.Policy.ForecastLeadDays = 100000 }, "policy.forecast_lead_days", "must be between 0 and 3650", ErrInvalid},

		{"entity id empty", func(c *Config) { c.Entities[1].ID = "" }, "entities[1].id", "must not be empty", ErrRequired},
		{"entity id illegal", func(c *Config) { c.Entities[1].ID = "x y" }, "entities[1].id", `"x y" must be 1-128 characters of A-Za-z0-9._:-`, ErrInvalid},
		{"entity id too long", func(c *Config) { c.Entities[0].ID = strings.Repeat("a", 129) }, "entities[0].id", "must be 1-128 characters", ErrInvalid},
		{"entity id duplicate", func(c *Config) {
			c.Entities = append(c.Entities, Entity{ID: "x"}, Entity{ID: c.Entities[0].ID})
		}, "entities[3].id", "duplicate of entities[0]", ErrDuplicate},
		{"mechanism empty", func(c *Config) { c.Entities[0].Approvals[0].Mechanism = "" }, "entities[0].approvals[0].mechanism", "must be security_assessment, standard_contract or certification", ErrRequired},
		{"mechanism unknown", func(c *Config) { c.Entities[1].Approvals[0].Mechanism = "bcr" }, "entities[1].approvals[0].mechanism", `got "bcr"`, ErrInvalid},
		{"status empty", func(c *Config) { c.Entities[1].Approvals[0].Status = "" }, "entities[1].approvals[0].status", "must be approved, pending or rejected", ErrRequired},
		{"status unknown", func(c *Config) { c.Entities[1].Approvals[0].Status = "granted" }, "entities[1].approvals[0].status", `got "granted"`, ErrInvalid},
		{"approved without valid_from", func(c *Config) { c.Entities[0].Approvals[0].ValidFrom = civil.Date{} }, "entities[0].approvals[0].valid_from", "required for an approved approval", ErrRequired},
		{"approved without valid_until", func(c *Config) { c.Entities[0].Approvals[0].ValidUntil = civil.Date{} }, "entities[0].approvals[0].valid_until", "required for an approved approval", ErrRequired},
		{"valid_until before valid_from", func(c *Config) {
			a := &c.Entities[1].Approvals[0]
			a.ValidFrom, a.ValidUntil = civil.NewDate(2026, 1, 1), civil.NewDate(2025, 1, 1)
		}, "entities[1].approvals[0].valid_until", "must be after valid_from", ErrInvalid},
		{"valid_until equal to valid_from", func(c *Config) {
			a := &c.Entities[0].Approvals[0]
			a.ValidUntil = a.ValidFrom
		}, "entities[0].approvals[0].valid_until", "must be after valid_from", ErrInvalid},

		{"ftz with a newline", func(c *Config) { c.Entities[0].FTZ = "hainan\nkafka.brokers: x" }, "entities[0].ftz", "on one line", ErrInvalid},
		{"ftz with surrounding spaces", func(c *Config) { c.Entities[0].FTZ = " hainan" }, "entities[0].ftz", "without surrounding spaces", ErrInvalid},
		{"ftz too long", func(c *Config) { c.Entities[0].FTZ = strings.Repeat("z", MaxFTZLength+1) }, "entities[0].ftz", "at most 128 bytes", ErrInvalid},
		{"employees negative", func(c *Config) { c.Entities[1].Employees = -1 }, "entities[1].employees", "must not be negative (0: unknown), got -1", ErrInvalid},
		{"processed_subjects negative", func(c *Config) { c.Entities[1].ProcessedSubjects = -5 }, "entities[1].processed_subjects", "must be between 0 and 10000000000, got -5", ErrInvalid},
		{"processed_subjects beyond the world", func(c *Config) { c.Entities[1].ProcessedSubjects = 20_000_000_000 }, "entities[1].processed_subjects", "must be between 0 and 10000000000", ErrInvalid},
		{"security assessment beyond 3 years under cac-2024", func(c *Config) {
			c.Entities[0].Approvals[0].ValidFrom, c.Entities[0].Approvals[0].ValidUntil = civil.NewDate(2025, 1, 1), civil.NewDate(2035, 1, 1)
		}, "entities[0].approvals[0].valid_until",
			`approval "CAC-1" (security_assessment): valid 2025-01-01 to 2035-01-01, beyond the legal term of 3 years under cac-2024 (2024 Provisions Art. 9): must be 2028-01-01 or earlier`, ErrInvalid},
		{"security assessment beyond 2 years under cac-2022", func(c *Config) {
			c.Policy.Preset = PresetCAC2022
			c.Entities[0].Approvals[0].ValidFrom, c.Entities[0].Approvals[0].ValidUntil = civil.NewDate(2025, 3, 1), civil.NewDate(2027, 3, 2)
		}, "entities[0].approvals[0].valid_until",
			"beyond the legal term of 2 years under cac-2022 (2022 Measures Art. 14): must be 2027-03-01 or earlier", ErrInvalid},
		{"certification beyond 3 years", func(c *Config) {
			c.Entities[1].Approvals[0] = Approval{Mechanism: MechanismCertification, Status: StatusApproved, Reference: "PIPC-7",
				ValidFrom: civil.NewDate(2024, 2, 29), ValidUntil: civil.NewDate(2027, 3, 2)}
		}, "entities[1].approvals[0].valid_until", `approval "PIPC-7" (certification): valid 2024-02-29 to 2027-03-02, beyond the legal term of 3 years`, ErrInvalid},
		{"pending security assessment beyond its term", func(c *Config) {
			c.Entities[1].Approvals[0] = Approval{Mechanism: MechanismSecurityAssessment, Status: StatusPending,
				ValidFrom: civil.NewDate(2026, 1, 1), ValidUntil: civil.NewDate(2030, 1, 1)}
		}, "entities[1].approvals[0].valid_until", "approval (security_assessment, no reference): valid 2026-01-01 to 2030-01-01", ErrInvalid},
		{"filed_on on a security assessment", func(c *Config) { c.Entities[0].Approvals[0].FiledOn = civil.NewDate(2025, 3, 5) }, "entities[0].approvals[0].filed_on",
			`approval "CAC-1" (security_assessment): only a standard contract is filed`, ErrConflict},
		{"scope destination lower case", func(c *Config) { c.Entities[0].Approvals[0].Scope = &Scope{Destinations: []string{"US", "sg"}} },
			"entities[0].approvals[0].scope.destinations[1]", `approval "CAC-1" (security_assessment): must be an ISO 3166-1 alpha-2 code in upper case (like US or GB), got "sg"`, ErrInvalid},
		{"scope destination not two letters", func(c *Config) { c.Entities[0].Approvals[0].Scope = &Scope{Destinations: []string{"USA"}} },
			"entities[0].approvals[0].scope.destinations[0]", `got "USA"`, ErrInvalid},
		{"scope destination duplicate", func(c *Config) { c.Entities[0].Approvals[0].Scope = &Scope{Destinations: []string{"US", "US"}} },
			"entities[0].approvals[0].scope.destinations[1]", `"US" duplicates destinations[0]`, ErrDuplicate},
		{"scope category unknown", func(c *Config) { c.Entities[0].Approvals[0].Scope = &Scope{Categories: []string{"personal", "health"}} },
			"entities[0].approvals[0].scope.categories[1]", `approval "CAC-1" (security_assessment): must be personal, sensitive or important_data, got "health"`, ErrInvalid},
		{"scope recipient empty", func(c *Config) { c.Entities[0].Approvals[0].Scope = &Scope{Recipients: []string{""}} },
			"entities[0].approvals[0].scope.recipients[0]", "a recipient must not be empty", ErrInvalid},
		{"scope max_subjects negative", func(c *Config) { c.Entities[0].Approvals[0].Scope = &Scope{MaxSubjects: -1} },
			"entities[0].approvals[0].scope.max_subjects", `approval "CAC-1" (security_assessment): must be 0 (none stated) or more, got -1`, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem on %s", tt.field)
			}
			line := problemLine(err, tt.field)
			if line == "" {
				t.Fatalf("no problem names %s; got:\n%v", tt.field, err)
			}
			if !strings.Contains(line, tt.want) {
				t.Errorf("problem = %q, want it to contain %q", line, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false; err:\n%v", tt.is, err)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("want exactly one problem, got %d:\n%v", n, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("errors.As FieldError: got %+v, want Field %q", fe, tt.field)
			}
		})
	}
}

func TestValidateAcceptsValidVariants(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"default", func(c *Config) {}},
		{"no entities", func(c *Config) { c.Entities = nil }},
		{"cac-2024 point", func(c *Config) { c.Policy.Preset, c.Policy.Estimate = PresetCAC2024, EstimatePoint }},
		{"lead days zero", func(c *Config) { c.Policy.RenewalLeadDays, c.Policy.ForecastLeadDays = 0, 0 }},
		{"flush bounds", func(c *Config) { c.FlushInterval = MinFlushInterval }},
		{"flush upper bound", func(c *Config) { c.FlushInterval = MaxFlushInterval }},
		{"utc", func(c *Config) { c.Timezone = "UTC" }},
		{"redis cluster db 0", func(c *Config) { c.Redis.Addrs = []string{"a:7000", "b:7000", "c:7000"} }},
		{"redis single db 3", func(c *Config) { c.Redis.DB = 3 }},
		{"ipv6 broker", func(c *Config) { c.Kafka.Brokers = []string{"[::1]:9092"} }},
		{"http any port", func(c *Config) { c.HTTP.Addr = "127.0.0.1:0" }},
		{"full kafka tls and sasl", func(c *Config) {
			c.Kafka.TLS = KafkaTLS{Enabled: true, CAFile: "ca", CertFile: "c", KeyFile: "k"}
			c.Kafka.SASL = SASL{Mechanism: SASLScramSHA256, Username: "u", Password: "p"}
		}},
		{"redis tls", func(c *Config) { c.Redis.TLS = RedisTLS{Enabled: true, CAFile: "ca", InsecureSkipVerify: true} }},
		{"pending approval without dates", func(c *Config) { c.Entities[1].Approvals[0].Status = StatusPending }},
		{"rejected with dates", func(c *Config) {
			c.Entities[1].Approvals[0] = Approval{Mechanism: MechanismCertification, Status: StatusRejected,
				ValidFrom: civil.NewDate(2025, 1, 1), ValidUntil: civil.NewDate(2026, 1, 1)}
		}},
		{"entity id charset", func(c *Config) { c.Entities[0].ID = "Acme.SH:cn_1-2" }},
		{"entity in a free-trade zone with staff and a CRM", func(c *Config) {
			c.Entities[0].FTZ, c.Entities[0].Employees, c.Entities[0].ProcessedSubjects = "中国(上海)自由贸易试验区", 3_000, 3_000_000
		}},
		{"security assessment of exactly 3 years under cac-2024", func(c *Config) {
			c.Entities[0].Approvals[0].ValidFrom, c.Entities[0].Approvals[0].ValidUntil = civil.NewDate(2025, 3, 1), civil.NewDate(2028, 3, 1)
		}},
		{"security assessment of exactly 2 years under cac-2022", func(c *Config) {
			c.Policy.Preset = PresetCAC2022
			c.Entities[0].Approvals[0].ValidFrom, c.Entities[0].Approvals[0].ValidUntil = civil.NewDate(2025, 3, 1), civil.NewDate(2027, 3, 1)
		}},
		{"certification from a leap day, 3 years", func(c *Config) {
			c.Entities[1].Approvals[0] = Approval{Mechanism: MechanismCertification, Status: StatusApproved,
				ValidFrom: civil.NewDate(2024, 2, 29), ValidUntil: civil.NewDate(2027, 3, 1)}
		}},
		{"standard contract of ten years, filed", func(c *Config) {
			c.Entities[1].Approvals[0] = Approval{Mechanism: MechanismStandardContract, Status: StatusApproved, Reference: "SC-1",
				ValidFrom: civil.NewDate(2026, 10, 1), ValidUntil: civil.NewDate(2036, 10, 1), FiledOn: civil.NewDate(2026, 10, 9)}
		}},
		{"standard contract filed late: the policy says it covers nothing, not check-config", func(c *Config) {
			c.Entities[1].Approvals[0] = Approval{Mechanism: MechanismStandardContract, Status: StatusApproved, Reference: "SC-1",
				ValidFrom: civil.NewDate(2026, 10, 1), ValidUntil: civil.NewDate(2029, 10, 1), FiledOn: civil.NewDate(2026, 12, 1)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Timezone = "Nowhere/Town"
	c.Kafka.Brokers = nil
	c.Redis.KeyPrefix = ""
	c.Policy.Preset = "cac-2099"
	c.Policy.Levels = Levels{0.9, 0.5, 0.95}
	c.Entities = append(c.Entities, Entity{ID: "x y"}, Entity{ID: "acme-sh"})
	c.Entities[0].Approvals[0].ValidUntil = civil.NewDate(2020, 1, 1)

	err := c.Validate()
	want := []string{
		"timezone",
		"kafka.brokers",
		"redis.key_prefix",
		"policy.preset",
		"policy.levels",
		"entities[0].approvals[0].valid_until",
		"entities[2].id",
		"entities[3].id",
	}
	for _, field := range want {
		if problemLine(err, field) == "" {
			t.Errorf("no problem names %s", field)
		}
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", got, len(want), err)
	}
	for _, s := range []error{ErrInvalid, ErrRequired, ErrDuplicate} {
		if !errors.Is(err, s) {
			t.Errorf("errors.Is(err, %v) = false", s)
		}
	}
}

func TestProblemsAreOneLine(t *testing.T) {
	c := validConfig()
	c.Entities[0].ID = "evil\nkafka.brokers: must not be empty"
	err := c.Validate()
	if n := strings.Count(err.Error(), "\n"); n != 0 {
		t.Errorf("a value with a newline split the problem into %d lines:\n%v", n+1, err)
	}
}

// TestValidateRejectsEveryInvalidApproval: check-config lists every
// problem of every invalid approval, each naming the approval.
func TestValidateRejectsEveryInvalidApproval(t *testing.T) {
	c := validConfig()
	c.Entities = []Entity{
		{ID: "acme-sh", Approvals: []Approval{
			{Mechanism: MechanismSecurityAssessment, Status: StatusApproved, Reference: "CAC-2025-0001",
				ValidFrom: civil.NewDate(2025, 1, 1), ValidUntil: civil.NewDate(2035, 1, 1)}, // ten years
			{Mechanism: MechanismCertification, Status: StatusApproved, Reference: "PIPC-2025-9",
				ValidFrom: civil.NewDate(2025, 1, 1), ValidUntil: civil.NewDate(2028, 1, 2), FiledOn: civil.NewDate(2025, 1, 5)}, // a day too long, and filed
			{Mechanism: MechanismStandardContract, Status: StatusApproved, Reference: "SC-2026-0007",
				ValidFrom: civil.NewDate(2026, 10, 1), ValidUntil: civil.NewDate(2029, 10, 1), FiledOn: civil.NewDate(2026, 10, 9)}, // fine
			{Mechanism: MechanismSecurityAssessment, Status: StatusApproved, Reference: "CAC-2026-0002"}, // no dates
			{Mechanism: "bcr", Status: "granted", Reference: "X"},
		}},
		{ID: "acme-bj", Employees: -3, ProcessedSubjects: -1, Approvals: []Approval{
			{Mechanism: MechanismSecurityAssessment, Status: StatusPending, Reference: "CAC-R",
				ValidFrom: civil.NewDate(2027, 1, 1), ValidUntil: civil.NewDate(2026, 1, 1), FiledOn: civil.NewDate(2027, 1, 2)},
		}},
	}
	err := c.Validate()
	want := map[string]string{
		"entities[0].approvals[0].valid_until": `approval "CAC-2025-0001" (security_assessment): valid 2025-01-01 to 2035-01-01, beyond the legal term of 3 years under cac-2024`,
		"entities[0].approvals[1].valid_until": `approval "PIPC-2025-9" (certification): valid 2025-01-01 to 2028-01-02, beyond the legal term of 3 years`,
		"entities[0].approvals[1].filed_on":    `approval "PIPC-2025-9" (certification): only a standard contract is filed`,
		"entities[0].approvals[3].valid_from":  "required for an approved approval",
		"entities[0].approvals[3].valid_until": "required for an approved approval",
		"entities[0].approvals[4].mechanism":   `got "bcr"`,
		"entities[0].approvals[4].status":      `got "granted"`,
		"entities[1].employees":                "must not be negative",
		"entities[1].processed_subjects":       "must be between 0 and",
		"entities[1].approvals[0].filed_on":    `approval "CAC-R" (security_assessment): only a standard contract is filed`,
	}
	lines := strings.Split(err.Error(), "\n")
	// valid_until before valid_from is one more problem on a field named above.
	if len(lines) != len(want)+1 {
		t.Errorf("%d problems, want %d:\n%v", len(lines), len(want)+1, err)
	}
	for field, part := range want {
		if line := problemLine(err, field); !strings.Contains(line, part) {
			t.Errorf("%s: %q, want it to contain %q", field, line, part)
		}
	}
	if !strings.Contains(err.Error(), "entities[1].approvals[0].valid_until: must be after valid_from") {
		t.Errorf("no problem for valid_until before valid_from:\n%v", err)
	}
	for _, l := range lines {
		if strings.Contains(l, "approvals[2]") {
			t.Errorf("a problem with the valid standard contract: %s", l)
		}
	}
	for _, s := range []error{ErrInvalid, ErrRequired, ErrConflict} {
		if !errors.Is(err, s) {
			t.Errorf("errors.Is(err, %v) = false", s)
		}
	}
}

func TestPolicyDescription(t *testing.T) {
	c := Default()
	d := c.PolicyDescription()
	for _, want := range []string{
		"policy cac-2024: Provisions on Promoting and Regulating Cross-Border Data Flows (2024, in force since 2024-03-22)",
		"sensitive-any", "(2024 Provisions Art. 8)", "hr-exemption",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("default policy description lacks %q:\n%s", want, d)
		}
	}
	c.Policy.Preset = PresetCAC2022
	if d := c.PolicyDescription(); !strings.Contains(d, "policy cac-2022:") || !strings.Contains(d, "personal-any") {
		t.Errorf("cac-2022 description:\n%s", d)
	}
	c.Policy.Preset = "cac-2099"
	if d := c.PolicyDescription(); d != "" {
		t.Errorf("unknown preset described: %q", d)
	}
}

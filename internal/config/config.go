// Package config is the configuration of transferwatch: the YAML file of
// the contract (§2), the environment variables that override it (§1), their
// validation, and the resolution of what the file only names (the time
// zone, the subject key file, the API token file, the TLS files).
//
// The usual way in is Load, which reads a file, applies the environment,
// validates and resolves, and reports every problem at once:
//
//	cfg, err := config.Load(path, os.Getenv)
//
// The pieces are exported separately (Default, Parse, ApplyEnv, Validate,
// Resolve) for the demo, which runs on Default(), and for tests.
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	// The default time zone, Asia/Shanghai, must load even on a minimal
	// container image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"go.yaml.in/yaml/v3"

	"github.com/transferwatch/transferwatch/internal/civil"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/tlsfiles"
)

// Config is the whole configuration of transferwatch.
//
// The fields tagged yaml:"-" are never read from the file: Resolve (or
// Load) fills them from the settings that name them and from the
// environment. Print a Config with String (or Redacted): it never shows the
// passwords, the subject key or the API token.
type Config struct {
	// Timezone is the IANA time zone of the calendar used for the windows
	// ("since 1 January").
	Timezone string `yaml:"timezone"`
	// FlushInterval is how often aggregated sketches are merged into the store.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Kafka is where events come from and decisions go to.
	Kafka Kafka `yaml:"kafka"`
	// Redis is the sketch store.
	Redis Redis `yaml:"redis"`
	// SubjectKeyFile names the file holding the 128-bit subject hashing key
	// as 32 hex characters.
	SubjectKeyFile string `yaml:"subject_key_file"`
	// HTTP is the API, health and metrics server.
	HTTP HTTP `yaml:"http"`
	// Decisions tunes the decisions topic.
	Decisions Decisions `yaml:"decisions"`
	// Policy chooses the legal preset and the warning levels.
	Policy Policy `yaml:"policy"`
	// Limits bound what outside input can make the service hold.
	Limits Limits `yaml:"limits"`
	// Entities are the known data handlers, with their approvals.
	Entities []Entity `yaml:"entities"`

	// Location is Timezone, loaded by Resolve.
	Location *time.Location `yaml:"-" json:"-"`
	// SubjectKey is the subject hashing key, from TW_SUBJECT_KEY or
	// SubjectKeyFile. It is meaningful only when HasSubjectKey is true.
	SubjectKey SecretKey `yaml:"-" json:"-"`
	// HasSubjectKey reports whether SubjectKey was set.
	HasSubjectKey bool `yaml:"-" json:"-"`
	// APIToken is the bearer token /v1/* requires, from TW_API_TOKEN or
	// HTTP.TokenFile; empty means no authentication.
	APIToken Secret `yaml:"-" json:"-"`
}

// Kafka is the Kafka connection and the topics used.
type Kafka struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string `yaml:"brokers"`
	// Topic is the topic of transfer events (in).
	Topic string `yaml:"topic"`
	// GroupID is the consumer group.
	GroupID string `yaml:"group_id"`
	// DeadLetterTopic receives invalid events.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// DecisionsTopic receives decision changes (block signals, out).
	DecisionsTopic string `yaml:"decisions_topic"`
	// TLS secures the connection to the brokers.
	TLS KafkaTLS `yaml:"tls"`
	// SASL authenticates to the brokers.
	SASL SASL `yaml:"sasl"`
	// SessionTimeout is the consumer group's session timeout: a dead
	// instance's partitions move to the others after about this long.
	SessionTimeout time.Duration `yaml:"session_timeout"`
}

// Decisions tunes the decisions topic.
type Decisions struct {
	// ReannounceInterval is how often every entity's current decision is
	// published again, so that a gate starting late, or a topic whose
	// compaction lost a record, still learns it.
	ReannounceInterval time.Duration `yaml:"reannounce_interval"`
}

// Limits bound what anyone who can produce to the events topic can make the
// service hold in memory, in Redis and in Prometheus.
type Limits struct {
	// MaxEntities is how many entities the service counts; events of new
	// entities past it go to the dead-letter topic.
	MaxEntities int `yaml:"max_entities"`
	// MaxFlowsPerEntity is how many flows an entity may have; new flows past
	// it are counted in the flow "other".
	MaxFlowsPerEntity int `yaml:"max_flows_per_entity"`
}

// KafkaTLS is the TLS setting of the Kafka connection.
type KafkaTLS struct {
	// Enabled turns TLS on; the other settings are used only then.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile is the PEM client certificate, set together with KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM client key, set together with CertFile.
	KeyFile string `yaml:"key_file"`
	// InsecureSkipVerify disables verification of the brokers' certificates.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL is the SASL authentication to Kafka.
type SASL struct {
	// Mechanism is "" (none), SASLPlain, SASLScramSHA256 or SASLScramSHA512.
	Mechanism string `yaml:"mechanism"`
	// Username is required with every mechanism.
	Username string `yaml:"username"`
	// Password is required with every mechanism; it is never printed.
	Password Secret `yaml:"password"`
}

// Redis is the connection to the sketch store.
type Redis struct {
	// Addrs are host:port; one address is a single node, several a Redis Cluster.
	Addrs []string `yaml:"addrs"`
	// Username is the ACL user, if any.
	Username string `yaml:"username"`
	// Password is never printed; TW_REDIS_PASSWORD overrides it.
	Password Secret `yaml:"password"`
	// DB is the database number of a single node; a cluster has only 0.
	DB int `yaml:"db"`
	// TLS secures the connection.
	TLS RedisTLS `yaml:"tls"`
	// KeyPrefix starts every key transferwatch writes.
	KeyPrefix string `yaml:"key_prefix"`
}

// RedisTLS is the TLS setting of the Redis connection.
type RedisTLS struct {
	// Enabled turns TLS on; the other settings are used only then.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify disables verification of the server's certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// HTTP is the HTTP server.
type HTTP struct {
	// Addr is the listen address, host:port (host may be empty).
	Addr string `yaml:"addr"`
	// TokenFile, if set, names a file holding the bearer token /v1/* requires.
	TokenFile string `yaml:"token_file"`
	// MaxStaleness: the decision endpoint answers 503 when the figures
	// behind its answer are older than this.
	MaxStaleness time.Duration `yaml:"max_staleness"`
	// Pprof serves /debug/pprof/ on the same listener.
	Pprof bool `yaml:"pprof"`
}

// Policy chooses the rules and how figures are held against them.
type Policy struct {
	// Preset is PresetCAC2022 or PresetCAC2024.
	Preset string `yaml:"preset"`
	// Levels are the warning levels, as fractions of a threshold.
	Levels Levels `yaml:"levels"`
	// Estimate is EstimateUpperBound or EstimatePoint: which figure is held
	// against thresholds.
	Estimate string `yaml:"estimate"`
	// RenewalLeadDays: warn this many days before a covering approval expires.
	RenewalLeadDays int `yaml:"renewal_lead_days"`
	// ForecastLeadDays: warn when a threshold is forecast to be crossed
	// within this many days.
	ForecastLeadDays int `yaml:"forecast_lead_days"`
	// UnknownEntities is UnknownAccept or UnknownDeadLetter: what becomes
	// of events of entities the configuration does not list.
	UnknownEntities string `yaml:"unknown_entities"`
}

// Levels are the fractions of a threshold at which a rule reaches each level;
// 0 < Notice < Warning < Critical < 1.
type Levels struct {
	// Notice is the fraction from which a rule is at level notice.
	Notice float64 `yaml:"notice"`
	// Warning is the fraction from which a rule is at level warning.
	Warning float64 `yaml:"warning"`
	// Critical is the fraction from which a rule is at level critical.
	Critical float64 `yaml:"critical"`
}

// Entity is a data handler (legal entity) known to the configuration.
type Entity struct {
	// ID is the entity of events: 1-128 characters of A-Za-z0-9._:-.
	ID string `yaml:"id"`
	// Name is the display name.
	Name string `yaml:"name"`
	// CIIO marks a critical information infrastructure operator.
	CIIO bool `yaml:"ciio"`
	// FTZ is the pilot free-trade zone whose negative list the entity may
	// rely on, being registered there; empty: none, and its
	// ftz_negative_list transfers count as not exempt (2024 Provisions
	// Art. 6).
	FTZ string `yaml:"ftz"`
	// Employees is the entity's headcount, the bound of the hr exemption;
	// 0: unknown.
	Employees int `yaml:"employees"`
	// ProcessedSubjects is the number of people whose personal
	// information the entity processes, by its own records; the processed
	// figure held is at least this.
	ProcessedSubjects int64 `yaml:"processed_subjects"`
	// Approvals are the entity's approvals for outbound transfers.
	Approvals []Approval `yaml:"approvals"`
}

// Approval is a legal mechanism an entity holds or applied for.
type Approval struct {
	// Mechanism is MechanismSecurityAssessment, MechanismStandardContract or
	// MechanismCertification.
	Mechanism string `yaml:"mechanism"`
	// Status is StatusApproved, StatusPending or StatusRejected.
	Status string `yaml:"status"`
	// Reference is the filing or approval number, for people.
	Reference string `yaml:"reference"`
	// ValidFrom is the first day the approval covers; required when approved.
	ValidFrom civil.Date `yaml:"valid_from,omitempty"`
	// ValidUntil is the first day the approval no longer covers (exclusive);
	// required when approved. It may lie no further from ValidFrom than the
	// legal term (policy.LegalTerm).
	ValidUntil civil.Date `yaml:"valid_until,omitempty"`
	// FiledOn is the day a standard contract was filed with the provincial
	// CAC (only for standard contracts). Not filed within 10 working days
	// of ValidFrom, the day it takes effect, it covers nothing.
	FiledOn civil.Date `yaml:"filed_on,omitempty"`
	// Scope is what the approval covers; absent: every flow.
	Scope *Scope `yaml:"scope,omitempty"`
}

// Scope is what an approval was granted for: transfers beyond it need a
// new approval. An omitted list matches everything.
type Scope struct {
	// Recipients are exact recipient ids.
	Recipients []string `yaml:"recipients,omitempty"`
	// Destinations are ISO 3166-1 alpha-2 codes, upper case.
	Destinations []string `yaml:"destinations,omitempty"`
	// Categories are personal, sensitive or important_data.
	Categories []string `yaml:"categories,omitempty"`
	// MaxSubjects is the volume stated in the application; 0: none.
	MaxSubjects int64 `yaml:"max_subjects,omitempty"`
}

// Presets. The default is cac-2024, the law in force since 2024-03-22.
const (
	PresetCAC2022 = policy.PresetCAC2022
	PresetCAC2024 = policy.PresetCAC2024
)

// Estimates: which figure is held against thresholds.
const (
	// EstimateUpperBound is the estimate plus three standard errors.
	EstimateUpperBound = "upper_bound"
	// EstimatePoint is the estimate itself.
	EstimatePoint = "point"
)

// Approval mechanisms.
const (
	MechanismSecurityAssessment = "security_assessment"
	MechanismStandardContract   = "standard_contract"
	MechanismCertification      = "certification"
)

// Approval statuses.
const (
	StatusApproved = "approved"
	StatusPending  = "pending"
	StatusRejected = "rejected"
)

// What becomes of events of entities the configuration does not list.
const (
	// UnknownAccept counts them like any other (the default).
	UnknownAccept = "accept"
	// UnknownDeadLetter sends them to the dead-letter topic.
	UnknownDeadLetter = "dead_letter"
)

// SASL mechanisms; the empty string means no SASL.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// Environment variables that override the file.
const (
	EnvKafkaBrokers  = "TW_KAFKA_BROKERS"
	EnvRedisAddrs    = "TW_REDIS_ADDRS"
	EnvRedisPassword = "TW_REDIS_PASSWORD"
	EnvSubjectKey    = "TW_SUBJECT_KEY"
	EnvHTTPAddr      = "TW_HTTP_ADDR"
	EnvAPIToken      = "TW_API_TOKEN"
	// EnvKafkaSASLPassword is an extension of the contract's list: the
	// Kafka password can then come from a Secret like the Redis one.
	EnvKafkaSASLPassword = "TW_KAFKA_SASL_PASSWORD"
)

// Size limits of the files read, so that a wrong path (a device, a log
// file) fails quickly instead of filling memory.
const (
	maxConfigSize = 16 << 20
	maxSecretSize = 4 << 10
)

// Default returns the configuration of the contract with every default set
// and no entity. Location, the subject key and the API token are not
// resolved: call Resolve.
func Default() *Config {
	return &Config{
		Timezone:      "Asia/Shanghai",
		FlushInterval: time.Second,
		Kafka: Kafka{
			Brokers:         []string{"localhost:9092"},
			Topic:           "outbound-transfers",
			GroupID:         "transferwatch",
			DeadLetterTopic: "outbound-transfers.dlq",
			DecisionsTopic:  "transfer-decisions",
			SessionTimeout:  10 * time.Second,
		},
		Decisions: Decisions{ReannounceInterval: time.Hour},
		Limits:    Limits{MaxEntities: 10_000, MaxFlowsPerEntity: 1_000},
		Redis: Redis{
			Addrs:     []string{"localhost:6379"},
			KeyPrefix: "tw",
		},
		HTTP: HTTP{Addr: ":8080", MaxStaleness: 2 * time.Minute},
		Policy: Policy{
			Preset:           policy.DefaultPreset,
			Levels:           Levels{Notice: 0.70, Warning: 0.85, Critical: 0.95},
			Estimate:         EstimateUpperBound,
			RenewalLeadDays:  183,
			ForecastLeadDays: 183,
			UnknownEntities:  UnknownAccept,
		},
	}
}

// Parse decodes a configuration file over Default(). Decoding is strict:
// an unknown key, a value of the wrong type, a duplicate key or a second
// YAML document is an error naming the line. Empty input gives Default().
// Parse reads no environment variable and no file, and does not validate.
func Parse(data []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) {
		return c, nil
	}
	if err != nil {
		return nil, describeYAMLError(data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return c, nil
	case err != nil:
		return nil, describeYAMLError(data, err)
	default:
		return nil, &lineError{line: extra.Line, msg: "a configuration file holds one YAML document, found another", err: ErrSyntax}
	}
}

// ApplyEnv overrides the configuration with the environment variables of
// the contract, read through getenv (os.Getenv in production; nil means no
// environment). An empty variable is ignored. TW_KAFKA_BROKERS and
// TW_REDIS_ADDRS are comma-separated lists; TW_SUBJECT_KEY (32 hex
// characters) and TW_API_TOKEN take precedence over subject_key_file and
// http.token_file. Every problem is reported.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	var p problems
	if v := getenv(EnvKafkaBrokers); v != "" {
		if list := splitList(v); len(list) > 0 {
			c.Kafka.Brokers = list
		} else {
			p.add(EnvKafkaBrokers, ErrInvalid, "must name at least one host:port")
		}
	}
	if v := getenv(EnvRedisAddrs); v != "" {
		if list := splitList(v); len(list) > 0 {
			c.Redis.Addrs = list
		} else {
			p.add(EnvRedisAddrs, ErrInvalid, "must name at least one host:port")
		}
	}
	if v := getenv(EnvRedisPassword); v != "" {
		c.Redis.Password = Secret(v)
	}
	if v := getenv(EnvKafkaSASLPassword); v != "" {
		c.Kafka.SASL.Password = Secret(v)
	}
	if v := getenv(EnvSubjectKey); v != "" {
		if key, ok := parseSubjectKey(v); ok {
			c.SubjectKey, c.HasSubjectKey = key, true
		} else {
			p.add(EnvSubjectKey, ErrInvalid, "must be exactly 32 hex characters")
		}
	}
	if v := strings.TrimSpace(getenv(EnvHTTPAddr)); v != "" {
		c.HTTP.Addr = v
	}
	if v := strings.TrimSpace(getenv(EnvAPIToken)); v != "" {
		if validToken(v) {
			c.APIToken = Secret(v)
		} else {
			p.add(EnvAPIToken, ErrInvalid, "must be printable ASCII without spaces")
		}
	}
	return p.join()
}

// Resolve loads what the configuration only names: the time zone into
// Location, the subject key from subject_key_file (unless TW_SUBJECT_KEY
// gave one) and the API token from http.token_file (unless TW_API_TOKEN
// gave one). It also reads the TLS files of an enabled TLS setting, as the
// clients will: kafka.tls.ca_file and redis.tls.ca_file must hold PEM
// certificates, kafka.tls.cert_file and key_file a certificate and the
// private key that goes with it. Every problem is reported, naming its
// field; no error ever shows a key or a token.
func (c *Config) Resolve() error {
	var p problems
	if loc, ok := checkTimezone(&p, c.Timezone); ok {
		c.Location = loc
	}
	if !c.HasSubjectKey && c.SubjectKeyFile != "" {
		if data, err := readFile(c.SubjectKeyFile, maxSecretSize); err != nil {
			p.addErr(&FieldError{Field: "subject_key_file", Err: err})
		} else if key, ok := parseSubjectKey(string(data)); !ok {
			p.add("subject_key_file", ErrInvalid, "%s must hold exactly 32 hex characters", c.SubjectKeyFile)
		} else {
			c.SubjectKey, c.HasSubjectKey = key, true
		}
	}
	if c.APIToken == "" && c.HTTP.TokenFile != "" {
		if data, err := readFile(c.HTTP.TokenFile, maxSecretSize); err != nil {
			p.addErr(&FieldError{Field: "http.token_file", Err: err})
		} else if tok := strings.TrimSpace(string(data)); tok == "" {
			p.add("http.token_file", ErrRequired, "%s is empty", c.HTTP.TokenFile)
		} else if !validToken(tok) {
			p.add("http.token_file", ErrInvalid, "the token in %s must be printable ASCII without spaces", c.HTTP.TokenFile)
		} else {
			c.APIToken = Secret(tok)
		}
	}
	c.checkTLSFiles(&p)
	return p.join()
}

// checkTLSFiles reads the files of the enabled TLS settings with the
// clients' own loaders.
func (c *Config) checkTLSFiles(p *problems) {
	if k := c.Kafka.TLS; k.Enabled {
		if k.CAFile != "" {
			_, err := tlsfiles.CAPool(k.CAFile)
			p.addErr(fileProblem("kafka.tls.ca_file", err))
		}
		var certErr, keyErr error
		if k.CertFile != "" {
			_, certErr = tlsfiles.Certificates(k.CertFile)
			p.addErr(fileProblem("kafka.tls.cert_file", certErr))
		}
		if k.KeyFile != "" {
			_, keyErr = tlsfiles.PrivateKey(k.KeyFile)
			p.addErr(fileProblem("kafka.tls.key_file", keyErr))
		}
		if k.CertFile != "" && k.KeyFile != "" && certErr == nil && keyErr == nil {
			_, err := tlsfiles.KeyPair(k.CertFile, k.KeyFile)
			p.addErr(fileProblem("kafka.tls.key_file", err))
		}
	}
	if r := c.Redis.TLS; r.Enabled && r.CAFile != "" {
		_, err := tlsfiles.CAPool(r.CAFile)
		p.addErr(fileProblem("redis.tls.ca_file", err))
	}
}

// fileProblem is the problem of the file named by field, or nil: a file
// that cannot be read keeps its *fs.PathError, one whose content is wrong
// wraps ErrInvalid.
func fileProblem(field string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return &FieldError{Field: field, Err: err}
	}
	return &FieldError{Field: field, Msg: err.Error(), Err: ErrInvalid}
}

// Load reads the configuration file at path, decodes it (Parse), applies
// the environment (ApplyEnv), validates (Validate) and resolves (Resolve).
// When the file cannot be read or decoded, that alone is reported;
// otherwise every problem of the later steps is reported at once, one per
// line. On error the configuration is nil.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := readFile(path, maxConfigSize)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	var p problems
	p.addErr(c.ApplyEnv(getenv))
	p.addErr(c.Validate())
	p.addErr(c.Resolve())
	if err := p.join(); err != nil {
		return nil, err
	}
	return c, nil
}

// PolicyDescription says which preset is in force and what it means, one
// line for the preset and one per rule with the article it comes from; ""
// for an unknown preset (Validate reports it).
func (c *Config) PolicyDescription() string {
	p, err := policy.PresetByName(c.Policy.Preset)
	if err != nil {
		return ""
	}
	return p.Describe()
}

// RequireSubjectKey returns an error wrapping ErrRequired when no subject
// key was given. The service refuses to run without one; only the demo
// runs on a fixed key.
func (c *Config) RequireSubjectKey() error {
	if c.HasSubjectKey {
		return nil
	}
	return &FieldError{Field: "subject key", Err: ErrRequired, Msg: "set subject_key_file or " + EnvSubjectKey}
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseSubjectKey decodes a key of exactly 32 hex characters, surrounding
// white space ignored.
func parseSubjectKey(s string) (key [16]byte, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) != 2*len(key) {
		return key, false
	}
	if _, err := hex.Decode(key[:], []byte(s)); err != nil {
		return [16]byte{}, false
	}
	return key, true
}

// validToken reports whether tok can be sent as "Authorization: Bearer tok".
func validToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return false
		}
	}
	return true
}

// readFile reads at most limit bytes of the named file.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, limit)
	}
	return data, nil
}

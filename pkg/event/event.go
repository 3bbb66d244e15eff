// Package event defines the transfer event of the transferwatch contract
// (schema 1): the JSON document a data pipeline publishes to Kafka for every
// outbound transfer of personal information, and its validation.
//
// Other Go programs import this package to produce events that transferwatch
// accepts; transferwatch itself uses Decode on every record it consumes.
package event

import "time"

// MaxSize is the largest encoded event accepted, in bytes.
const MaxSize = 1 << 20

// MaxSubjects is the largest number of subjects one event may carry.
const MaxSubjects = 100_000

// MaxSubjectLen is the longest subject identifier accepted, in bytes.
const MaxSubjectLen = 256

// MaxFutureSkew is how far in the future occurred_at may lie.
const MaxFutureSkew = 24 * time.Hour

// Kind says whether an event is an outbound transfer or processing in China.
type Kind string

const (
	// KindTransfer is an outbound transfer; it counts toward every counter.
	KindTransfer Kind = "transfer"
	// KindProcessing is processing in China; it counts only toward "processed".
	KindProcessing Kind = "processing"
)

// Exemption is the legal basis under which a transfer is exempt from the
// 2024 Provisions (arts. 3–6). The empty string means no exemption.
type Exemption string

// The exemptions of the contract.
const (
	ExemptionNone            Exemption = ""
	ExemptionContract        Exemption = "contract"
	ExemptionHR              Exemption = "hr"
	ExemptionEmergency       Exemption = "emergency"
	ExemptionTransit         Exemption = "transit"
	ExemptionFTZNegativeList Exemption = "ftz_negative_list"
)

// Event is one transfer event, schema 1.
type Event struct {
	Schema        int       `json:"schema"`
	EventID       string    `json:"event_id,omitempty"`
	OccurredAt    time.Time `json:"occurred_at"`
	Entity        string    `json:"entity"`
	Kind          Kind      `json:"kind"`
	Recipient     string    `json:"recipient,omitempty"`
	Destination   string    `json:"destination,omitempty"`
	Subjects      []string  `json:"subjects"`
	Sensitive     bool      `json:"sensitive"`
	ImportantData bool      `json:"important_data"`
	Exemption     Exemption `json:"exemption"`
	Records       int64     `json:"records,omitempty"`
	Pipeline      string    `json:"pipeline,omitempty"`
}

// Exempt reports whether the event carries an exemption.
func (e *Event) Exempt() bool { return e.Exemption != ExemptionNone }

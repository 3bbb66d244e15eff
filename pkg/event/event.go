// Package event defines the transfer event of the transferwatch contract
// (schema 1): the JSON document a data pipeline publishes to Kafka for every
// outbound transfer of personal information, and its validation.
//
// Other Go programs import this package to produce events that transferwatch
// accepts; transferwatch itself uses Decode on every record it consumes.
package event

import (
	"encoding/json"
	"time"
)

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

// Event is one transfer event, schema 1. Decode produces it from the wire
// and json.Marshal (see MarshalJSON) writes it back; Validate checks one
// built in Go. The rules of each field are those of the contract.
type Event struct {
	Schema        int       `json:"schema"`                // 1 (0 means 1)
	EventID       string    `json:"event_id,omitempty"`    // informational
	OccurredAt    time.Time `json:"occurred_at"`           // required; decides the day and year
	Entity        string    `json:"entity"`                // required: the Chinese data handler
	Kind          Kind      `json:"kind"`                  // "" means KindTransfer
	Recipient     string    `json:"recipient,omitempty"`   // required for KindTransfer
	Destination   string    `json:"destination,omitempty"` // optional ISO 3166-1 alpha-2 code
	Subjects      []string  `json:"subjects"`              // 1 to MaxSubjects raw identifiers
	Sensitive     bool      `json:"sensitive"`             // sensitive personal information
	ImportantData bool      `json:"important_data"`        // important data (重要数据)
	Exemption     Exemption `json:"exemption"`             // "" when not exempt
	Records       int64     `json:"records,omitempty"`     // informational, >= 0
	Pipeline      string    `json:"pipeline,omitempty"`    // informational
}

// Exempt reports whether the event carries an exemption.
func (e *Event) Exempt() bool { return e.Exemption != ExemptionNone }

// MarshalJSON encodes the event as a schema-1 document that Decode accepts:
// occurred_at in RFC 3339 (with nanoseconds when it has them, in its own
// offset, or in UTC when RFC 3339 cannot write that offset), and the
// defaults made explicit (schema 1, kind "transfer"). Producers simply call
// json.Marshal on an Event; check it with Validate first.
func (e Event) MarshalJSON() ([]byte, error) {
	type wire Event // the same fields and tags, without this method
	w := wire(e)
	if w.Schema == 0 {
		w.Schema = 1
	}
	if w.Kind == "" {
		w.Kind = KindTransfer
	}
	w.OccurredAt = wireTime(w.OccurredAt)
	return json.Marshal(w)
}

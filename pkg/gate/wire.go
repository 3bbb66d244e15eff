package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Signal is the message of the decisions topic (CONTRACT §5), keyed by the
// entity.
type Signal struct {
	Entity   string   `json:"entity"`
	Decision Decision `json:"decision"`
	// Previous is the decision before this one, or "" for the entity's
	// first.
	Previous          Decision  `json:"previous"`
	RequiredMechanism string    `json:"required_mechanism"`
	Policy            string    `json:"policy"`
	Reasons           []string  `json:"reasons"`
	DecidedAt         time.Time `json:"decided_at"`
	// Version increases with every decision published for the entity; a
	// message may be published again with the same version.
	Version int64 `json:"version"`
}

// Verdict is the answer of GET /v1/entities/{id}/decision (CONTRACT §6).
type Verdict struct {
	Entity            string   `json:"entity"`
	Decision          Decision `json:"decision"`
	RequiredMechanism string   `json:"required_mechanism"`
	Reasons           []string `json:"reasons"`
}

// entityStatus is the part of an EntityStatus of GET /v1/entities
// (CONTRACT §6) that the gate keeps.
type entityStatus struct {
	Entity            string   `json:"entity"`
	Policy            string   `json:"policy"`
	Decision          Decision `json:"decision"`
	RequiredMechanism string   `json:"required_mechanism"`
	Reasons           []string `json:"reasons"`
}

var errNoEntity = errors.New("no entity")

// decodeSignal decodes a record of the decisions topic. The entity is the
// value's, or the key's when the value names none. A decision this package
// does not know is kept as it is: Allowed refuses it.
func decodeSignal(key, value []byte) (Answer, error) {
	var s Signal
	if err := json.Unmarshal(value, &s); err != nil {
		return Answer{}, err
	}
	if s.Entity == "" {
		s.Entity = string(key)
	}
	if s.Entity == "" {
		return Answer{}, errNoEntity
	}
	return Answer{
		Entity:            s.Entity,
		Decision:          s.Decision,
		RequiredMechanism: s.RequiredMechanism,
		Policy:            s.Policy,
		Reasons:           s.Reasons,
		Version:           s.Version,
		Known:             true,
	}, nil
}

// decodeVerdict decodes the decision answer asked for entity.
func decodeVerdict(body []byte, entity string) (Answer, error) {
	var v Verdict
	if err := json.Unmarshal(body, &v); err != nil {
		return Answer{}, err
	}
	if v.Entity != entity {
		return Answer{}, fmt.Errorf("answer is for entity %q", v.Entity)
	}
	return Answer{
		Entity:            v.Entity,
		Decision:          v.Decision,
		RequiredMechanism: v.RequiredMechanism,
		Reasons:           v.Reasons,
		Known:             true,
	}, nil
}

// decodeEntities decodes the answer of GET /v1/entities.
func decodeEntities(body []byte) (map[string]Answer, error) {
	var list struct {
		Entities *[]entityStatus `json:"entities"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	if list.Entities == nil {
		return nil, errors.New(`no "entities" array`)
	}
	out := make(map[string]Answer, len(*list.Entities))
	for _, s := range *list.Entities {
		if s.Entity == "" {
			return nil, errNoEntity
		}
		out[s.Entity] = Answer{
			Entity:            s.Entity,
			Decision:          s.Decision,
			RequiredMechanism: s.RequiredMechanism,
			Policy:            s.Policy,
			Reasons:           s.Reasons,
			Known:             true,
		}
	}
	return out, nil
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
}

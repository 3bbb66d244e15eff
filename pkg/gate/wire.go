package gate

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Signal is the message of the decisions topic (CONTRACT §5).
//
// Deprecated: use decision.Signal, the same type.
type Signal = decision.Signal

// Verdict is the answer of GET /v1/entities/{id}/decision (CONTRACT §6).
//
// Deprecated: use decision.Verdict, the same type.
type Verdict = decision.Verdict

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
	var s decision.Signal
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
	var v decision.Verdict
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

// Package gate is the client a data pipeline embeds to ask transferwatch
// "may I send personal data for this legal entity now?" without a network
// round trip per record.
//
// A Gate keeps a local cache of every entity's decision (allow, warn or
// block) and answers from it. It fills the cache in one of two modes:
//
//   - Topic mode (NewFromTopic) follows transferwatch's decisions topic
//     (CONTRACT §5). It reads every partition from its first offset without
//     a consumer group, since each pipeline needs the whole state, and keeps
//     the highest-version message of each entity, so a stale message that
//     arrives late never overrides a newer decision. An entity the topic has
//     never mentioned is answered as transferwatch itself answers: allow
//     under cac-2024, block under cac-2022 (the preset of the decisions
//     held), and not at all (ErrPresetUnknown) while it holds none.
//   - API mode (NewFromAPI) polls the HTTP API (CONTRACT §6): either
//     GET /v1/entities for every entity, or GET /v1/entities/{id}/decision
//     for each entity listed in the options, with the optional bearer
//     token. An answer other than 200, a network error or a body that does
//     not decode leaves the cache as it was and does not refresh it.
//
// # Failing closed
//
// The cache is fresh while the last moment at which it was known to be
// complete lies within MaxStaleness of now. In topic mode that moment is
// when the gate sent the most recent fetch after which it held every record
// below the high watermark of every partition (the broker reports the high
// watermark with each fetch, and an idle fetch long-polls for at most a
// second), so a quiet topic stays fresh as long as the broker answers. In
// API mode it is the start of the last poll round that fully succeeded.
//
// Allowed answers true only when the cache is fresh and the entity's
// decision is allow or warn. It answers false, whatever the last known
// decision, when the gate has never synced, when the broker or the API has
// not answered within MaxStaleness, for a decision this package does not
// know, and in API mode with a list of entities for an entity outside it.
// The Answer says why in its Err field (ErrNotSynced, ErrStale,
// ErrNotFollowed).
//
// A Gate is safe for concurrent use. Allowed and Decision take no lock: they
// read an immutable snapshot through an atomic pointer, so pipelines can
// call them for every record.
//
// The messages the gate reads are the types of package decision
// (decision.Signal from the topic, decision.Verdict from the API), the same
// types transferwatch encodes; gate.Decision is decision.Decision.
package gate

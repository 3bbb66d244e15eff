// Package policy is the policy engine of transferwatch: it holds the
// distinct-people counts of one legal entity against the thresholds of the
// Chinese rules on outbound transfers of personal information (CONTRACT §4)
// and decides allow, warn or block.
//
// The package is pure logic. The caller reads the figures of an entity from
// the sketch store (with the preset's IncludeExempt), passes them as an
// Observation together with the entity's registry entry and the configured
// Settings, and gets back a Status, which marshals to the EntityStatus of
// CONTRACT §6. Status.Signal builds the message of the decisions topic
// (CONTRACT §5) and Status.Verdict the decision answer of the HTTP API.
//
// # Presets
//
// A Preset is a named list of Rules, exactly the table of CONTRACT §4:
// "cac-2022" (the 2022 Measures: since_prev_jan1 windows, exempt events count)
// and "cac-2024" (the 2024 Provisions: current_year windows, exempt events
// left out). PresetByName returns a fresh copy each time.
//
// # Levels and coverage
//
// A rule holds the figure of its counter and window (the upper bound, or the
// point estimate when Settings.UsePoint) against its threshold with ≥. An
// estimate of 0 is held as 0 whatever its upper bound: a HyperLogLog
// estimates 0 only when nothing was added, so a CIIO that transferred
// nothing is not blocked by an error bar. A rule's level is ok, notice,
// warning or critical by the fraction of the threshold reached (Levels),
// and breached once the threshold is reached. Rules firing
// at ≥ 1 are ok or breached. The "ciio" rule applies only to a critical
// information infrastructure operator; for other entities it is ok with
// ratio 0. The "important-data" rule has no sketch: its estimate and upper
// bound are 1 when at least one important-data event lies in its window and
// 0 otherwise.
//
// An approval covers a rule when it is approved, today (in
// Settings.Location) lies in [ValidFrom, ValidUntil), and its mechanism is at
// least as strong as the rule's (standard_contract = certification <
// security_assessment).
//
// # Decision
//
//   - block: a breached rule is not covered;
//   - warn: otherwise, when a rule at warning or critical is not covered, or a
//     covering approval expires within RenewalLeadDays, or a rule not
//     covered is forecast (see Forecast) to be crossed within
//     ForecastLeadDays. A covering approval is one in force that covers at
//     least one rule of the preset, whatever that rule's level: approvals
//     are registered because they are needed, and renewing a security
//     assessment takes months. It does not count as expiring when an
//     approved successor of at least its strength starts no later than it
//     ends (the renewal is done); the warning then names the approval that
//     ends the chain;
//   - allow: otherwise.
//
// The required mechanism is the strongest mechanism among breached rules,
// covered or not, or "none".
//
// Every fact behind the decision is a one-line reason; reasons are sorted
// by severity (what blocks first, then what warns, then information such as
// covered breaches and rules at notice), so a warn or block decision always
// has at least one.
package policy

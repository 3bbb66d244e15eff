// Package policy is the policy engine of transferwatch: it holds the
// distinct-people counts of one legal entity against the thresholds of the
// Chinese rules on outbound transfers of personal information (CONTRACT §4)
// and decides allow, warn or block. Where the law can be read two ways it
// takes the reading that does not let a transfer through, and says so.
//
// The package is pure logic. The caller reads the figures of an entity from
// the sketch store with Observe (which decides, per entity, which exempt
// transfers count), passes them as an Observation together with the
// entity's registry entry and the configured Settings, and gets back a
// Status, which marshals to the EntityStatus of CONTRACT §6. Status.Signal
// builds the message of the decisions topic (CONTRACT §5), Status.Verdict
// the decision answer of the HTTP API, and Unknown the answer for an entity
// neither configured nor seen.
//
// # Presets
//
// A Preset is a named list of Rules, the tables of CONTRACT §4 with v2, each
// rule citing its article (Rule.Basis):
//
//   - "cac-2022": the 2022 Measures for Security Assessment of Outbound
//     Data Transfers read with the 2023 Standard Contract Measures. Windows
//     since 1 January of last year; exempt transfers count (the Measures
//     know no exemption); a security assessment for a CIIO (Art. 4(2)),
//     important data (Art. 4(1)), a handler processing 1,000,000 people
//     that transfers (Art. 4(2)), 100,000 people or 10,000 sensitive (Art.
//     4(3)); below that, personal-any: a standard contract or certification
//     for any transfer of personal information (PIPL Art. 38; Standard
//     Contract Measures Art. 4).
//   - "cac-2024" (the default, the law in force since 2024-03-22): the 2024
//     Provisions on Promoting and Regulating Cross-Border Data Flows.
//     Windows since 1 January of this year; exempt transfers left out where
//     the entity may rely on the exemption (Arts. 3–6, see Counting); a
//     security assessment for a CIIO (Art. 7(1)), important data, 1,000,000
//     people or 10,000 sensitive (Art. 7(2)); a standard contract or
//     certification for 100,000 people or any sensitive personal
//     information (Art. 8); the advisory rule hr-exemption (Art. 5(2)).
//
// PresetByName returns a fresh copy each time; Preset.Describe says what it
// means, for check-config.
//
// # Levels and coverage
//
// A rule holds the figure of its counter and window (the upper bound, or the
// point estimate when Settings.UsePoint) against its threshold with ≥. An
// estimate of 0 is held as 0 whatever its upper bound: a HyperLogLog
// estimates 0 only when nothing was added. A rule's level is ok, notice,
// warning or critical by the fraction of the threshold reached (Levels),
// and breached once the threshold is reached. Rules firing at ≥ 1 are ok
// or breached. Particular rules:
//
//   - ciio applies only to a critical information infrastructure operator
//     and is breached from the start (threshold 0): a CIIO without a
//     covering security assessment is blocked before its first transfer
//     (PIPL Art. 40). The 2024 Provisions let a CIIO's exempt transfers
//     through (Art. 7, last sentence); transferwatch does not, as it cannot
//     know a pipeline's next transfer is exempt. For other entities the
//     rule is ok with ratio 0.
//   - important-data holds whether an important-data event lies in its
//     window, whatever the event's exemption: no exemption covers important
//     data (2024 Provisions Arts. 3–6, Art. 5 last paragraph).
//   - processed-1m holds the larger of the processed estimate and the
//     entity's own ProcessedSubjects, and is breached only once someone's
//     personal information was transferred (2022 Measures Art. 4(2): a
//     handler processing that many people that transfers); until then it is
//     at most critical, which warns.
//   - hr-exemption holds the people of hr-exempt transfers against the
//     entity's headcount (Employees; at warning when the headcount is
//     unknown and any exist). It is advisory: it warns, never blocks, and
//     requires no mechanism.
//
// An approval covers a rule when it is approved, today (in
// Settings.Location) lies in [ValidFrom, ValidUntil), its mechanism is at
// least as strong as the rule's (standard_contract = certification <
// security_assessment), and:
//
//   - its validity ends at the latest at the end of the legal term
//     (LegalTerm: a security assessment 2 years under cac-2022, 3 under
//     cac-2024; a certification 3 years); a longer validity is held to the
//     term and warns (check-config rejects it);
//   - a standard contract was filed within 10 working days of taking effect
//     (Standard Contract Measures Art. 7, counted with package workday):
//     not filed yet and still within them, it covers and warns; not filed
//     in time, it covers nothing and the reason says "not filed".
//
// # Decision
//
//   - block: a breached rule that is not advisory is not covered;
//   - warn: otherwise, when a rule at warning or critical is not covered,
//     an advisory rule is breached, an approval has a problem (beyond its
//     legal term, not filed), a covering approval expires within
//     RenewalLeadDays, a covering security assessment's re-application is
//     due within RenewalLeadDays or overdue, or a rule not covered is
//     forecast (see Forecast) to be crossed within ForecastLeadDays. A
//     covering approval is one in force that covers at least one rule of
//     the preset, whatever that rule's level: approvals are registered
//     because they are needed, and renewing a security assessment takes
//     months. It does not count as expiring when a usable successor of at
//     least its strength starts no later than it ends (the renewal is
//     done); the warning then names the approval that ends the chain;
//   - allow: otherwise.
//
// A security assessment is applied for again 60 working days before it
// expires (ReapplyBy; 2022 Measures Art. 14; the 2024 Provisions Art. 9 opens
// the extension application in those 60 working days, and transferwatch
// takes the opening as the deadline, which leaves no gap). Past that day
// with no approved or pending successor, the rules it covers at notice or
// above are at least critical and the entity at least warn.
//
// The required mechanism is the strongest mechanism among breached rules,
// covered or not, or "none".
//
// Every fact behind the decision is a one-line reason; reasons are sorted
// by severity (what blocks first, then what warns, then information such as
// exemptions not applied, covered breaches and rules at notice), so a warn
// or block decision always has at least one.
package policy

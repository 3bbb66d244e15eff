package decide

import "context"

// WithHooks returns o with the test hooks set: afterSwap runs when a change
// was recorded and before it is published; beforePublish when the leases of
// a publication are held and its messages read, before they are written.
func WithHooks(o Options, afterSwap func(entity string), beforePublish func(entities []string)) Options {
	o.afterSwap = afterSwap
	o.beforePublish = beforePublish
	return o
}

// WithStampChunk returns o reading the stamps of n entities per store call.
func WithStampChunk(o Options, n int) Options {
	o.stampChunk = n
	return o
}

// WithRoundChunk returns o evaluating n entities at a time in a round.
func WithRoundChunk(o Options, n int) Options {
	o.roundChunk = n
	return o
}

// Round runs one evaluation round of every known entity, as Run does every
// Refresh (announce: every Reannounce).
func (d *Decider) Round(ctx context.Context, announce bool) error {
	return d.round(ctx, announce)
}

// ForgetBases makes the next round evaluate every entity again, as every
// round did before rounds re-confirmed unchanged entities.
func (d *Decider) ForgetBases() { d.forgetBases() }

package decide

// WithHooks returns o with the test hooks set: afterSwap runs when a change
// was recorded and before it is published; beforePublish when the leases of
// a publication are held and its messages read, before they are written.
func WithHooks(o Options, afterSwap func(entity string), beforePublish func(entities []string)) Options {
	o.afterSwap = afterSwap
	o.beforePublish = beforePublish
	return o
}

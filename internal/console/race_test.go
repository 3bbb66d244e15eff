//go:build race

package console_test

import "time"

// entitiesPageBudget is the load time allowed to the page of 10,000
// entities in the browser test. The race detector slows the server's
// rendering several times over; the figure without it is the benchmark's
// and the log line's.
const entitiesPageBudget = 5 * time.Second

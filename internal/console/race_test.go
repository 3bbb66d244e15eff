//go:build race

package console_test

import "time"

// entitiesPageBudget is the load time allowed to the page of 10,000
// entities in the browser test. The race detector slows the server's
// rendering several times over; the figure without it is the benchmark's
// and the log line's.
const entitiesPageBudget = 5 * time.Second

// bareFactor is how many times as long as a bare table of as many rows the
// Entities page may take to load; the race detector slows the server's
// share.
const bareFactor = 8

//go:build !race

package console_test

import "time"

// entitiesPageBudget is the load time allowed to the page of 10,000
// entities in the browser test: the requirement, one second.
const entitiesPageBudget = time.Second

// bareFactor is how many times as long as a bare table of as many rows the
// Entities page may take to load.
const bareFactor = 5

package policy

import "github.com/transferwatch/transferwatch/internal/civil"

// Date is a calendar day: the one Date type of transferwatch, shared with
// the configuration, named here because the reports of this package carry
// it. It marshals to JSON as "YYYY-MM-DD".
type Date = civil.Date

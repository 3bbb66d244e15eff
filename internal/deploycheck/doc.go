// Package deploycheck holds the tests of the operations artifacts against the code and against
// each other, with the real tools: the Helm chart rendered by helm (ServiceAccount,
// NetworkPolicy, helm test pod, the job label, the PrometheusRule rendered from the values
// against deploy/prometheus/alerts.yaml, checked by promtool), the chart's values documented
// in its README, its schema against the configuration's keys, the alert lead days against the
// configuration's defaults, the Dockerfile's Go against go.mod, and the "CONTRACT §N" citations
// of the code against the numbered sections of docs/contract.md. It has no non-test code.
//
// helm is installed by `make deps` (go install, into $(go env GOPATH)/bin), promtool by the
// Debian package prometheus.
package deploycheck

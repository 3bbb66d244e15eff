#!/usr/bin/env bash
# Checks the operations artifacts: the Prometheus rules and their unit tests, the PromQL of the
# dashboard and the rules against the exported metrics (tools/promlint), the Helm chart with
# every value set of helm/transferwatch/ci/, and `promtool check metrics` on a scrape of a
# running service (transferwatch demo, which needs no setup).
#
#   deploy/check.sh            (make test runs it)
#
# Installs what it needs when missing: promtool (Debian package prometheus) and helm
# (go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION, into $(go env GOPATH)/bin). The chart's
# template tests (ServiceAccount, NetworkPolicy, helm test pod, PrometheusRule from values) are
# Go tests in internal/deploycheck, run by `go test ./...`.
set -euo pipefail

cd "$(dirname "$0")/.."

# Keep in step with the Makefile's HELM_VERSION.
HELM_VERSION=${HELM_VERSION:-v3.16.4}
CHART=helm/transferwatch
RELEASE=tw
# A test key for rendering only; never use it for real data.
TEST_SUBJECT_KEY=000102030405060708090a0b0c0d0e0f

passed=0
failed=0
step() { printf '\n== %s\n' "$*"; }
ok() {
	passed=$((passed + 1))
	printf 'ok   %s\n' "$*"
}
fail() {
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$*" >&2
}

tmp=$(mktemp -d)
demo_pid=""
cleanup() {
	if [ -n "$demo_pid" ]; then
		kill "$demo_pid" 2>/dev/null || true
		wait "$demo_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- tools -----------------------------------------------------------------------------------

if ! command -v promtool >/dev/null 2>&1; then
	step "installing promtool (Debian package prometheus)"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus
fi

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$PATH:$gobin"
if ! command -v helm >/dev/null 2>&1; then
	step "installing helm $HELM_VERSION (go install, a few minutes)"
	GOFLAGS= go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

# --- Prometheus rules ------------------------------------------------------------------------

step "promtool check rules"
if promtool check rules deploy/prometheus/alerts.yaml "$CHART/files/alerts.yaml"; then
	ok "promtool check rules"
else
	fail "promtool check rules"
fi

step "promtool test rules"
if promtool test rules deploy/prometheus/alerts_test.yaml; then
	ok "promtool test rules"
else
	fail "promtool test rules"
fi

# --- PromQL against the exported metrics; chart copies ---------------------------------------

step "tools/promlint (go test)"
if (cd tools/promlint && export GOWORK=off GOFLAGS=-mod=mod && go vet ./... && go test -count=1 ./...); then
	ok "tools/promlint"
else
	fail "tools/promlint"
fi

# --- Helm chart --------------------------------------------------------------------------------

# kinds FILE: the kinds of the objects in a rendered manifest, one per line.
kinds() { grep -E '^kind: ' "$1" | sed 's/^kind: //' | sort; }

# render NAME ARGS...: helm template into $tmp/NAME.yaml.
render() {
	local name=$1
	shift
	helm template "$RELEASE" "$CHART" "$@" >"$tmp/$name.yaml" 2>"$tmp/$name.err"
}

for values in "$CHART"/ci/*.yaml; do
	name=$(basename "$values" .yaml)
	step "helm lint + template: $values"
	if helm lint --strict "$CHART" -f "$values"; then
		ok "helm lint $name"
	else
		fail "helm lint $name"
	fi
	if ! render "$name" -f "$values"; then
		cat "$tmp/$name.err" >&2
		fail "helm template $name"
		continue
	fi
	ok "helm template $name"
	# Without the Prometheus Operator's API, no ServiceMonitor and no PrometheusRule.
	if kinds "$tmp/$name.yaml" | grep -qxE 'ServiceMonitor|PrometheusRule'; then
		fail "$name: ServiceMonitor or PrometheusRule rendered without monitoring.coreos.com/v1"
	else
		ok "$name: no ServiceMonitor/PrometheusRule without monitoring.coreos.com/v1"
	fi
	for kind in Deployment Service ConfigMap PodDisruptionBudget ServiceAccount Pod; do
		if ! kinds "$tmp/$name.yaml" | grep -qx "$kind"; then
			fail "$name: no $kind rendered"
		fi
	done
done

step "helm template --api-versions monitoring.coreos.com/v1 (monitoring-values)"
if render monitoring-api -f "$CHART/ci/monitoring-values.yaml" --api-versions monitoring.coreos.com/v1; then
	for kind in ServiceMonitor PrometheusRule; do
		if kinds "$tmp/monitoring-api.yaml" | grep -qx "$kind"; then
			ok "monitoring-values: $kind rendered with monitoring.coreos.com/v1"
		else
			fail "monitoring-values: $kind not rendered with monitoring.coreos.com/v1"
		fi
	done
	if grep -q 'alert: TransferwatchEntityBlocked' "$tmp/monitoring-api.yaml"; then
		ok "PrometheusRule holds the alerts"
	else
		fail "PrometheusRule does not hold the alerts of files/alerts.yaml"
	fi
	if grep -q 'grafana_dashboard: "1"' "$tmp/monitoring-api.yaml"; then
		ok "dashboard ConfigMap labelled grafana_dashboard: \"1\""
	else
		fail "dashboard ConfigMap without the label grafana_dashboard: \"1\""
	fi
else
	cat "$tmp/monitoring-api.err" >&2
	fail "helm template monitoring-values --api-versions monitoring.coreos.com/v1"
fi

step "helm template: the chart refuses to render without a subject key"
if render no-key; then
	fail "rendered without secret.subjectKey or existingSecret"
elif grep -q 'subjectKey' "$tmp/no-key.err"; then
	ok "no subject key: refused"
else
	cat "$tmp/no-key.err" >&2
	fail "no subject key: failed for another reason"
fi

step "helm template: existingSecret creates no Secret of its own"
if render existing -f "$CHART/ci/existing-secret-values.yaml"; then
	if grep -q "name: $RELEASE-transferwatch-secrets" "$tmp/existing.yaml"; then
		fail "existingSecret: the chart still renders its own Secret"
	elif grep -q 'name: transferwatch-credentials' "$tmp/existing.yaml"; then
		ok "existingSecret: env refers to transferwatch-credentials"
	else
		fail "existingSecret: the Deployment does not refer to transferwatch-credentials"
	fi
else
	cat "$tmp/existing.err" >&2
	fail "helm template existing-secret-values"
fi

# --- the rendered config.yaml against the service's own validation ----------------------------

# config_of MANIFEST: the config.yaml held by the chart's ConfigMap (or Secret) in MANIFEST.
config_of() {
	awk '
		/^# Source: transferwatch\/templates\/configmap.yaml/ { inobj = 1; next }
		/^---/ { inobj = 0; inblock = 0 }
		inobj && /^  config.yaml: \|/ { inblock = 1; next }
		inblock && /^    / { sub(/^    /, ""); print; next }
		inblock && /^$/ { print; next }
		inblock { inblock = 0 }
	' "$1"
}

if [ "$(go list -e -f '{{.Name}}' ./cmd/transferwatch 2>/dev/null)" != main ]; then
	step "skipped: check-config of the rendered configs (no ./cmd/transferwatch yet)"
elif ! go build -o "$tmp/transferwatch" ./cmd/transferwatch; then
	fail "go build ./cmd/transferwatch (for check-config)"
else
	step "transferwatch check-config on every rendered config.yaml"
	# The rendered configs name files inside the pod (/etc/transferwatch/…),
	# which check-config reads: put real ones, made here, under $tmp/pod and
	# point the config at them.
	pod="$tmp/pod"
	mkdir -p "$pod"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=check \
		-keyout "$pod/key.pem" -out "$pod/cert.pem" 2>/dev/null || fail "openssl: a test certificate"
	for values in "$CHART"/ci/*.yaml; do
		name=$(basename "$values" .yaml)
		[ -s "$tmp/$name.yaml" ] || continue
		config_of "$tmp/$name.yaml" | sed "s#/etc/transferwatch/#$pod/etc/transferwatch/#g" >"$tmp/$name.config.yaml"
		{ grep -oE '(ca_file|cert_file|key_file|token_file|subject_key_file): *"?[^ "]+' "$tmp/$name.config.yaml" || true; } |
			while IFS=: read -r field path; do
				path=$(echo "$path" | tr -d ' "')
				case "$path" in "$pod"/*) ;; *) continue ;; esac
				mkdir -p "$(dirname "$path")"
				case "$field" in
				key_file) cp "$pod/key.pem" "$path" ;;
				ca_file | cert_file) cp "$pod/cert.pem" "$path" ;;
				subject_key_file) echo "$TEST_SUBJECT_KEY" >"$path" ;;
				*) echo "check-token" >"$path" ;;
				esac
			done
		if TW_SUBJECT_KEY=$TEST_SUBJECT_KEY "$tmp/transferwatch" check-config --config "$tmp/$name.config.yaml"; then
			ok "check-config $name"
		else
			fail "check-config --offline $name"
		fi
	done

	# --- promtool check metrics on a live scrape -------------------------------------------------

	step "promtool check metrics on a scrape of a running service (transferwatch demo)"
	env -u TW_REDIS_ADDRS -u TW_KAFKA_BROKERS -u TW_HTTP_ADDR \
		"$tmp/transferwatch" demo --duration 5m --http-addr 127.0.0.1:0 >"$tmp/demo.out" 2>"$tmp/demo.err" &
	demo_pid=$!
	addr=""
	scraped=""
	for _ in $(seq 1 120); do
		if [ -z "$addr" ]; then
			addr=$(sed -n 's|^[[:space:]]*http[[:space:]]*http://\([^[:space:]]*\).*|\1|p' "$tmp/demo.out" | head -n 1)
		fi
		# Wait for the demo's first decisions, so that the per-entity gauges are in the scrape.
		if [ -n "$addr" ] && curl -fsS "http://$addr/metrics" >"$tmp/scrape.txt" 2>/dev/null &&
			grep -q '^transferwatch_entity_decision{' "$tmp/scrape.txt"; then
			scraped=yes
			break
		fi
		if ! kill -0 "$demo_pid" 2>/dev/null; then
			break
		fi
		sleep 0.5 # polling interval
	done
	if [ -z "$scraped" ]; then
		cat "$tmp/demo.out" "$tmp/demo.err" >&2
		fail "scrape the demo's /metrics"
	elif promtool check metrics <"$tmp/scrape.txt"; then
		ok "promtool check metrics ($(grep -c '^transferwatch_' "$tmp/scrape.txt") transferwatch series)"
	else
		fail "promtool check metrics on the scrape of the demo"
	fi
	kill "$demo_pid" 2>/dev/null || true
	wait "$demo_pid" 2>/dev/null || true
	demo_pid=""
fi

printf '\ndeploy/check.sh: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]

# transferwatch — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO    ?= go
PKG   := github.com/transferwatch/transferwatch
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/buildinfo.Version=$(VERSION) -X $(PKG)/internal/buildinfo.Revision=$(REVISION)
BIN      := bin/transferwatch
# Debian packages the tests drive as real peers (command:package); curl scrapes in deploy/check.sh.
TEST_DEPS := redis-server:redis-server redis-cli:redis-tools kcat:kcat promtool:prometheus curl:curl
# helm, for the chart's template tests (internal/deploycheck) and deploy/check.sh; go-installed.
HELM_VERSION ?= v3.16.4
GOBIN_DIR := $(or $(shell $(GO) env GOBIN 2>/dev/null),$(shell $(GO) env GOPATH 2>/dev/null)/bin)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/transferwatch.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/transferwatch

.PHONY: run
run: build ## Run the whole product on embedded defaults (in-process broker, synthetic traffic).
	./$(BIN) demo $(ARGS)

.PHONY: deps
deps: ## Install what the tests drive when missing: redis-server, redis-cli, kcat, promtool, curl (apt-get, as root or with sudo) and helm (go install).
	@missing=""; for d in $(TEST_DEPS); do cmd=$${d%%:*}; pkg=$${d##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v helm >/dev/null 2>&1 || [ -x "$(GOBIN_DIR)/helm" ] || { \
	  echo "installing helm $(HELM_VERSION) into $(GOBIN_DIR) (go install, a few minutes)"; \
	  GOFLAGS= $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); }

.PHONY: test
test: deps ## Run every test with the race detector, then the dashboard, alert-rule and Helm checks.
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	bash deploy/check.sh

.PHONY: fuzz
fuzz: ## Fuzz the decoders of outside input for a while (FUZZTIME=30s).
	$(GO) test ./pkg/event -run '^$$' -fuzz FuzzDecode -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzLoad -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./internal/decide -run '^$$' -fuzz FuzzRecordOf -fuzztime $(or $(FUZZTIME),30s)

.PHONY: bench
bench: deps ## Run the benchmarks: micro-benchmarks (hot path, sketches, decoder, Redis flush), then the end-to-end harness (cmd/twbench), whose tables it writes into docs/benchmarks.md.
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(or $(BENCHTIME),300ms) ./pkg/event ./pkg/gate ./internal/sketch
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1000000x ./internal/ingest
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20x ./internal/store/redisstore
	$(GO) run ./cmd/twbench -doc docs/benchmarks.md $(BENCHFLAGS)

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

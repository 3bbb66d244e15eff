# transferwatch — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO    ?= go
PKG   := github.com/transferwatch/transferwatch
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/buildinfo.Version=$(VERSION) -X $(PKG)/internal/buildinfo.Revision=$(REVISION)
BIN      := bin/transferwatch
# Debian packages the tests drive as real peers (command:package); curl scrapes in deploy/check.sh;
# chromium runs the console's browser tests (internal/testutil/browsertest) and `make screenshots`.
TEST_DEPS := redis-server:redis-server redis-cli:redis-tools kcat:kcat promtool:prometheus curl:curl chromium:chromium
# Fonts the screenshots need to render Chinese labels (checked with fc-list).
FONT_DEPS := fonts-noto-cjk
# helm, for the chart's template tests (internal/deploycheck) and deploy/check.sh; go-installed.
HELM_VERSION ?= v3.16.4
# golangci-lint, for `make lint` (.golangci.yml); go-installed.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOBIN_DIR := $(or $(shell $(GO) env GOBIN 2>/dev/null),$(shell $(GO) env GOPATH 2>/dev/null)/bin)
GOLANGCI_LINT := $(GOBIN_DIR)/golangci-lint

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
deps: ## Install what the tests drive when missing: redis-server, redis-cli, kcat, promtool, curl, chromium and a CJK font (apt-get, as root or with sudo) and helm (go install).
	@missing=""; for d in $(TEST_DEPS); do cmd=$${d%%:*}; pkg=$${d##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	fc-list 2>/dev/null | grep -qi 'CJK' || missing="$$missing $(FONT_DEPS)"; \
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

.PHONY: screenshots
screenshots: deps ## Run the demo, open each console page in headless Chromium and write PNG screenshots into docs/img/.
	$(GO) test ./internal/demo -run '^TestConsoleScreenshots$$' -count=1 -v -args -screenshots=$(CURDIR)/docs/img

.PHONY: fuzz
fuzz: ## Fuzz the decoders of outside input for a while (FUZZTIME=30s).
	$(GO) test ./pkg/event -run '^$$' -fuzz FuzzDecode -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzLoad -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./internal/decide -run '^$$' -fuzz FuzzRecordOf -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./internal/report -run '^$$' -fuzz FuzzHostileText -fuzztime $(or $(FUZZTIME),30s)

.PHONY: bench
bench: deps ## Run the benchmarks: micro-benchmarks (hot path, sketches, decoder, Redis flush), then the end-to-end harness (cmd/twbench), whose tables it writes into docs/benchmarks.md.
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(or $(BENCHTIME),300ms) ./pkg/event ./pkg/gate ./internal/sketch
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1000000x ./internal/ingest
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20x ./internal/store/redisstore
	$(GO) run ./cmd/twbench -doc docs/benchmarks.md $(BENCHFLAGS)

.PHONY: lint
lint: lint-deps ## golangci-lint (.golangci.yml: formatting, vet, staticcheck, errorlint, revive, gocritic, modernize, depguard).
	$(GOLANGCI_LINT) run ./...

.PHONY: lint-deps
lint-deps: ## Install golangci-lint $(GOLANGCI_LINT_VERSION) when missing (go install, a few minutes).
	@[ -x "$(GOLANGCI_LINT)" ] && "$(GOLANGCI_LINT)" version 2>/dev/null | grep -q "$(GOLANGCI_LINT_VERSION:v%=%)" || { \
	  echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(GOBIN_DIR) (go install, a few minutes)"; \
	  GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); }

.PHONY: fmt
fmt: lint-deps ## Format the code as `make lint` wants it (gofmt, goimports with local imports last).
	$(GOLANGCI_LINT) fmt ./...

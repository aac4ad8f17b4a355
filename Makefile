# iagente-sdr: the two commands a new user needs are `make run` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

GO ?= go

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

.PHONY: run
run: ## start the server on the embedded SQLite database; prints a dev API key on first start
	$(GO) run ./cmd/iagente-sdr serve --dev

.PHONY: build
build: ## build bin/iagente-sdr (the server) and bin/iagente-mock (the fakes)
	$(GO) build -o bin/iagente-sdr ./cmd/iagente-sdr
	$(GO) build -o bin/iagente-mock ./cmd/iagente-mock

.PHONY: generate
generate: ## regenerate gen/ from openapi/ (oapi-codegen, pinned in go.mod)
	cd openapi && $(GO) generate ./...

.PHONY: check-generated
check-generated: ## fail if gen/ differs from what openapi/ generates
	@scripts/check-generated.sh

.PHONY: vet
vet: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: ## Spectral (pinned in package.json), the samples' drift check and the breaking-change gate
	scripts/lint.sh

.PHONY: breaking
breaking: ## print every change of openapi/ that breaks partners, against openapi/published/ (oasdiff)
	@scripts/breaking.sh

.PHONY: publish-spec
publish-spec: ## the current specs become the published ones (openapi/published/); empties the acknowledgements
	@scripts/breaking.sh --publish

.PHONY: test-go
test-go: ## unit, store and contract tests; on PostgreSQL too when TEST_POSTGRES_URL is set
	$(GO) tool gotestsum --format pkgname --format-hide-empty-pkg -- -race -count=1 -timeout=20m ./...

.PHONY: schemathesis
schemathesis: ## schemathesis (pinned, in a venv) against fresh servers on SQLite and a throwaway PostgreSQL
	scripts/postgres.sh run -- scripts/schemathesis-both.sh

.PHONY: test-browser
test-browser: ## the dashboard in headless Chromium (playwright-core); screenshots in artifacts/browser/
	scripts/browser-test.sh

.PHONY: test
test: ## everything CI runs, in parallel where it pays: vet, check-generated, lint, browser tests, Go tests and schemathesis on both databases
	scripts/test.sh

.PHONY: bench
bench: ## benchmarks on SQLite and a throwaway PostgreSQL; see docs/benchmarks.md
	scripts/bench.sh

.PHONY: bench-scale
bench-scale: ## GET /leads, GET /messages and a webhook's deliveries at 1M against 10k, SQLite and PostgreSQL; see docs/benchmarks.md
	scripts/bench-scale.sh

.PHONY: loadtest
loadtest: ## GET /leads/{id} vs a bare net/http handler (vegeta), RSS, start-up; SQLite and a throwaway PostgreSQL
	scripts/postgres.sh run -- $(GO) run ./benchmarks/loadtest

.PHONY: clean
clean: ## remove build output, local database and test artifacts
	rm -rf bin artifacts iagente-sdr.db iagente-sdr.db-wal iagente-sdr.db-shm

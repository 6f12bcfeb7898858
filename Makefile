# termgate — developer entry points. `make` alone lists them.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
TEST_TIMEOUT ?= 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/termgate
	$(GO) build -o bin/termgate ./cmd/termgate

.PHONY: peers
peers: ## install the Debian packages the tests run against (as root), or print the command
	@./scripts/install-peers.sh

.PHONY: test
test: peers ## what CI runs: install peers, go vet, go test -race over everything
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

.PHONY: bench
bench: ## run every Go benchmark once (figures for the notes)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	@set -e; for pkg in $$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' $(PKGS)); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do \
	    echo "== $$pkg $$f"; \
	    (cd $$pkg && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) .); \
	  done; \
	done

.PHONY: soak
soak: peers ## long load run: 10,000 sessions for 10 minutes
	TERMGATE_SOAK=1 $(GO) test -v -run 'Soak' -count=1 -timeout 30m ./integration/...

.PHONY: lint
lint: ## staticcheck (pinned through the go.mod tool directive)
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

.PHONY: vuln
vuln: ## govulncheck (pinned through the go.mod tool directive; needs the vulnerability database online)
	$(GO) tool govulncheck $(PKGS)

.PHONY: fmt
fmt: ## gofmt every file
	gofmt -w $$(git ls-files '*.go')

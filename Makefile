# Comity — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
BIN     := $(CURDIR)/bin
BUF     := tools/node_modules/.bin/buf
DATA    ?= ./var
# Every Go module of the workspace; `go test ./...` does not span go.work.
MODULES := proto services gateway deploy/local clients/go
PKGS    := $(addsuffix /...,$(addprefix ./,$(MODULES)))
# Third-party protos, fetched at pinned versions, never committed.
PROTOVALIDATE_VERSION := v1.2.2
# protoc-gen-openapiv2's options protos come from the module of the plugin
# itself (tools/go.mod), so annotations and generator always agree.
GRPC_GATEWAY_VERSION := $(shell sed -n 's|^\t*github.com/grpc-ecosystem/grpc-gateway/v2 \(v[^ ]*\).*|\1|p' tools/go.mod)
THIRD_PARTY := build/third_party
PLUGINS := protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2
# Tessera's own log checker, for the tests that check our log with it.
TESSERA_VERSION := v1.0.4
FSCK := $(BIN)/fsck
# go-swagger: validates the OpenAPI document (make test) and generates the Go
# client in clients/go from it (make generate). A generator nobody here
# wrote: the client shows that the document describes the API as it is.
SWAGGER_VERSION := v0.36.7
SWAGGER := $(BIN)/swagger
# How long `make fuzz` runs each fuzz target, e.g. `make fuzz FUZZTIME=5m`,
# and how long `make test` runs each (fuzz-short).
FUZZTIME ?= 10s
FUZZTIME_SHORT ?= 3s

.PHONY: help run build test lint generate check-generated openapi-validate tools protos bench slowloris fuzz fuzz-short fsck-log console-screenshots clean

help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: build ## Build and start comity-local (the whole suite, data in ./var); prints the console's URL.
	@echo
	@echo "  Comity console: http://127.0.0.1:8080/  (sign in with the DEVELOPMENT-ONLY provider at http://127.0.0.1:8079)"
	@echo "  REST API:       http://127.0.0.1:8080/v1/  (reference: http://127.0.0.1:8080/api)"
	@echo
	$(BIN)/comity-local --data-dir $(DATA)

build: ## Build every binary into bin/.
	$(GO) build -o $(BIN)/ ./services/cmd/comity-directory ./services/cmd/comity-request ./services/cmd/comity-audit ./services/cmd/comity-witness
	$(GO) build -o $(BIN)/ ./gateway/cmd/comity-gateway ./gateway/cmd/comityctl
	$(GO) build -o $(BIN)/ ./deploy/local/cmd/comity-local

test: lint check-generated openapi-validate build $(FSCK) ## Every check: lint, generated code up to date, the OpenAPI document valid, tests on SQLite and PostgreSQL, a short fuzz run.
	# The gateway package (the browser, access-matrix and REST suites) takes
	# about 18 minutes under -race on 2 cores: 30 leaves room for a slower
	# machine while the whole of CI stays within its 45.
	COMITY_TESSERA_FSCK=$(FSCK) $(GO) test -count=1 -race -timeout 30m $(PKGS)
	$(call run-fuzz,$(FUZZTIME_SHORT))

$(FSCK):
	GOBIN=$(BIN) GOWORK=off $(GO) install github.com/transparency-dev/tessera/cmd/fsck@$(TESSERA_VERSION)

$(SWAGGER):
	GOBIN=$(BIN) GOWORK=off $(GO) install github.com/go-swagger/go-swagger/cmd/swagger@$(SWAGGER_VERSION)

# go-swagger's validation of the served Swagger 2.0 document; a warning
# (an unused definition, a required parameter with a default) fails it too.
# kin-openapi checks both documents in gateway's TestOpenAPIDocuments.
openapi-validate: $(SWAGGER) ## Validate the OpenAPI document with go-swagger.
	@out=$$($(SWAGGER) validate $(OPENAPI)/openapi.json 2>&1) || { echo "$$out"; exit 1; }; \
		if grep -q WARNING <<< "$$out"; then echo "$$out"; echo "swagger validate warns about $(OPENAPI)/openapi.json"; exit 1; fi; \
		echo "swagger validate: $(OPENAPI)/openapi.json is valid"

fsck-log: $(FSCK) ## Check the audit log of ./var with Tessera's fsck.
	$(FSCK) --storage_url=file://$(abspath $(DATA))/audit/log/ --public_key=$(DATA)/audit/public.key --ui=false -N=4

lint: tools ## buf lint, buf format, gofmt and go vet.
	$(BUF) lint
	$(BUF) format --diff --exit-code proto
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

tools: $(BUF) $(addprefix $(BIN)/,$(PLUGINS)) $(SWAGGER) $(THIRD_PARTY)/.stamp ## Install the pinned code-generation tools.

$(BUF): tools/package.json tools/package-lock.json
	cd tools && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(addprefix $(BIN)/,$(PLUGINS)) &: tools/go.mod tools/go.sum
	GOWORK=off $(GO) -C tools build -o $(BIN)/ \
		google.golang.org/protobuf/cmd/protoc-gen-go \
		google.golang.org/grpc/cmd/protoc-gen-go-grpc \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2

$(THIRD_PARTY)/.stamp: $(BUF) Makefile
	rm -rf $(THIRD_PARTY) && mkdir -p $(THIRD_PARTY)/google/api $(THIRD_PARTY)/buf/validate $(THIRD_PARTY)/protoc-gen-openapiv2/options
	cp tools/node_modules/google-proto-files/google/api/{annotations,http,field_behavior,resource,client,launch_stage,httpbody}.proto $(THIRD_PARTY)/google/api/
	dir=$$(GOWORK=off GOFLAGS=-mod=mod $(GO) -C tools mod download -json github.com/bufbuild/protovalidate@$(PROTOVALIDATE_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
		test -n "$$dir" && cp "$$dir/proto/protovalidate/buf/validate/validate.proto" $(THIRD_PARTY)/buf/validate/
	dir=$$(GOWORK=off GOFLAGS=-mod=mod $(GO) -C tools mod download -json github.com/grpc-ecosystem/grpc-gateway/v2@$(GRPC_GATEWAY_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
		test -n "$$dir" && cp "$$dir"/protoc-gen-openapiv2/options/{annotations,openapiv2}.proto $(THIRD_PARTY)/protoc-gen-openapiv2/options/ && \
		chmod u+w $(THIRD_PARTY)/protoc-gen-openapiv2/options/*.proto
	touch $@

generate: tools ## Regenerate Go and OpenAPI code from the protos, the Go client, the console's templ code and its vendored assets.
	find proto -name '*.pb.go' -o -name '*.pb.gw.go' | xargs rm -f
	rm -rf build/openapi $(OPENAPI)/*.json
	$(BUF) generate
	GOWORK=off $(GO) -C tools run ./openapi -in $(CURDIR)/build/openapi/comity.swagger.json \
		-version-file $(CURDIR)/VERSION -out $(CURDIR)/$(OPENAPI)
	rm -rf $(CLIENT)/client $(CLIENT)/models
	$(SWAGGER) generate client --quiet -f $(OPENAPI)/openapi.json -t $(CLIENT) -A comity
	rm -rf $(OPENAPI)/swagger-ui && mkdir -p $(OPENAPI)/swagger-ui
	cp tools/node_modules/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui-bundle.js.LICENSE.txt,swagger-ui.css,LICENSE,NOTICE} $(OPENAPI)/swagger-ui/
	find gateway/console -name '*_templ.go' | xargs rm -f
	$(GO) -C gateway tool templ generate -path console -log-level warn
	cp tools/node_modules/htmx.org/dist/htmx.min.js $(CONSOLE_STATIC)/htmx.min.js
	cp tools/node_modules/htmx.org/LICENSE $(CONSOLE_STATIC)/htmx.LICENSE

# What make generate writes: the protobuf code, the OpenAPI document with
# its reference page's vendored viewer, the Go client, and the console's.
OPENAPI := gateway/openapi
CLIENT := clients/go
GENERATED := proto gateway/console $(OPENAPI) $(CLIENT)
CONSOLE_STATIC := gateway/console/static

check-generated: generate ## Fail when the committed generated code is stale.
	@if ! git diff --quiet -- $(GENERATED) || [ -n "$$(git ls-files --others --exclude-standard $(GENERATED))" ]; then \
		echo "generated code is stale: run 'make generate' and commit the result"; \
		git status --short -- $(GENERATED); exit 1; fi

# PostgreSQL figures need a server; the local one unless told otherwise.
bench: export COMITY_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
# Operations per gateway sub-benchmark: a fixed count keeps a run bounded
# (about 4 minutes on 2 cores) however slow an engine is. The gateway's
# BenchmarkPgbench adds pgbench simple-update (64 clients, 20 s) beside the
# PostgreSQL figures; it is skipped without pgbench. -p 1: benchmarks of
# two packages running at once would share the cores and spoil both.
bench: BENCH_OPS ?= 3000
bench: ## Run the benchmarks (see docs/benchmarks.md); results also in build/bench.txt.
	@mkdir -p build
	{ $(GO) test -p 1 -run '^$$' -bench . -benchmem -timeout 10m $(filter-out ./gateway/...,$(PKGS)) && \
	  $(GO) test -p 1 -run '^$$' -bench . -benchtime $(BENCH_OPS)x -timeout 12m ./gateway/...; } 2>&1 | tee build/bench.txt

# The load test of slow clients: a fresh comity-local on ports of its own
# (data in build/slowloris), comity-slowloris against it, then the server is
# stopped. SLOWLORIS_FLAGS passes flags on, e.g. "--conns 2000 --duration 30s".
SLOWLORIS_DIR ?= build/slowloris
slowloris: build ## Load test (docs/benchmarks.md): 5,000 slow connections from 127.0.0.1 for 2 minutes while creates from 127.0.0.2 keep running.
	$(GO) build -o $(BIN)/ ./deploy/local/cmd/comity-slowloris
	rm -rf $(SLOWLORIS_DIR) && mkdir -p $(SLOWLORIS_DIR)
	ulimit -n $$(ulimit -Hn); \
	$(BIN)/comity-local --data-dir $(SLOWLORIS_DIR) --http-addr 127.0.0.1:18080 --metrics-addr 127.0.0.1:19090 \
	  --directory-addr 127.0.0.1:19101 --request-addr 127.0.0.1:19102 --audit-addr 127.0.0.1:19103 --log-level warn \
	  >$(SLOWLORIS_DIR)/comity-local.log 2>&1 & pid=$$!; \
	for i in $$(seq 150); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.2; done; \
	$(BIN)/comity-slowloris --gateway http://127.0.0.1:18080 --metrics http://127.0.0.1:19090/metrics \
	  --data-dir $(SLOWLORIS_DIR) --pid $$pid $(SLOWLORIS_FLAGS); rc=$$?; \
	kill $$pid; wait $$pid; exit $$rc

fuzz: ## Run every fuzz target for FUZZTIME each (`make fuzz FUZZTIME=5m`).
	$(call run-fuzz,$(FUZZTIME))

fuzz-short: ## Run every fuzz target for FUZZTIME_SHORT each (part of `make test`).
	$(call run-fuzz,$(FUZZTIME_SHORT))

# run-fuzz runs every fuzz target of every package of every module for $(1),
# one `go test -fuzz` each (it takes one package and one target), and fails
# when any of them fails; a failing input is kept in the package's
# testdata/fuzz/<FuzzName>, to commit with the fix. The targets are found in
# the test files, so a new one is never left out. A target that fails with
# nothing but "context deadline exceeded" and no failing input is run once
# more: that is Go's fuzz coordinator tripping on its own -fuzztime deadline
# (golang/go#75804; Go 1.26 has no fix, Go 1.27 does), not the code under
# test. A second such failure, or any other, fails the run.
define run-fuzz
	@targets=$$($(GO) list -f '{{.ImportPath}} {{.Dir}}' $(PKGS) | while read -r pkg dir; do \
		for f in "$$dir"/*_test.go; do \
			[ -e "$$f" ] || continue; \
			sed -nE "s|^func (Fuzz([A-Z0-9_][A-Za-z0-9_]*)?)\(\w+ \*testing\.F\).*|$$pkg \1|p" "$$f"; \
		done; done); \
	if [ -z "$$targets" ]; then echo "no fuzz targets found"; exit 1; fi; \
	failed=""; start=$$SECONDS; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	while read -r pkg target; do \
		for try in 1 2; do \
			echo "== $$pkg $$target ($(1))"; \
			if $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(1) "$$pkg" </dev/null 2>&1 | tee "$$log"; then break; fi; \
			if [ $$try = 1 ] && grep -qx '    context deadline exceeded' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
				echo "== $$target stopped on Go's own -fuzztime deadline with no failing input (golang/go#75804, fixed in Go 1.27): once more"; \
				continue; \
			fi; \
			failed="$$failed $$pkg.$$target"; break; \
		done; \
	done <<< "$$targets"; \
	echo "$$(wc -l <<< "$$targets") fuzz targets, $$((SECONDS - start))s"; \
	if [ -n "$$failed" ]; then echo "failed fuzz targets:$$failed"; exit 1; fi
endef

console-screenshots: tools ## Screenshots of the console's pages (English and Russian) into docs/console/, from its browser test.
	COMITY_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console COMITY_TEST_BROWSER_REQUIRED=1 \
		$(GO) test -count=1 -run '^TestConsoleBrowser' ./gateway/

clean: ## Remove build outputs (not ./var).
	rm -rf $(BIN) build

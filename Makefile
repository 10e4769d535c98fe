# IRIS Oculus. `make run` starts the product, `make test` runs every test.
GO      ?= go
SHARED  ?= testdata
BIN     := bin/iris
EXAMPLE := $(SHARED)/totalsegmentator-example/ct_3mm_seg.nii.gz

.PHONY: run example test bench build iris lambdas synth deploy vet tools clean

WEB_SRC := $(shell find web/src web/public -type f 2>/dev/null) web/package-lock.json web/index.html web/vite.config.ts

## build: the iris binary (with the web app) and the Lambda zips
build: iris lambdas

## iris: the web app (when missing or stale) and the iris binary embedding it (static, no cgo)
iris: web/dist/index.html
	CGO_ENABLED=0 $(GO) build -tags webdist -trimpath -o $(BIN) ./cmd/iris

## lambdas: bootstrap zips for provided.al2023/arm64 in bin/lambda/
lambdas:
	bash infra/build-lambdas.sh

infra/_cli/node_modules/.bin/cdk: infra/_cli/package.json infra/_cli/package-lock.json
	cd infra/_cli && npm ci --no-audit --no-fund --loglevel=error

## synth: the CloudFormation template (bin/cdk.out), cdk-nag checked
synth: lambdas infra/_cli/node_modules/.bin/cdk
	infra/_cli/node_modules/.bin/cdk synth -q

## deploy: cdk deploy (needs AWS credentials, a bootstrapped account and Docker; see infra/README.md)
deploy: lambdas infra/_cli/node_modules/.bin/cdk
	infra/_cli/node_modules/.bin/cdk deploy Iris

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run --silent build

## run: the whole product on this machine (pipeline, API, web app) at http://127.0.0.1:8080/
run: iris
	./$(BIN) serve --data iris-data

## example: mesh the shared example label map and print where the models are
example: iris
	./$(BIN) mesh $(EXAMPLE) -o out/example

## tools: the pinned tools the tests run (the Khronos glTF validator, dynalite, goaws; see tools/)
TOOLS := tools/gltf/node_modules/.package-lock.json tools/dynalite/node_modules/.package-lock.json bin/tools/goaws
tools: $(TOOLS)

tools/%/node_modules/.package-lock.json: tools/%/package.json tools/%/package-lock.json
	cd tools/$* && npm ci --no-audit --no-fund --loglevel=error

bin/tools/goaws: tools/goaws/main.go tools/goaws/go.mod tools/goaws/go.sum
	cd tools/goaws && GOWORK=off GOFLAGS=-mod=readonly $(GO) build -trimpath -o ../../bin/tools/goaws .

## test: every test — Go (vet, unit, integration), the web app's unit tests, and the
## browser end-to-end run against a real iris serve. The reference readers and
## chromium must be installed (see .ci/run).
test: tools iris
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...
	cd web && npm test --silent
	bash web/e2e/serve.sh

## bench: benchmarks side by side with the reference stacks; prints tables
bench: iris
	bash bench/run.sh

clean:
	rm -rf bin out bench/out

# IRIS Oculus. `make run` starts the product, `make test` runs every test.
GO      ?= go
SHARED  ?= testdata
BIN     := bin/iris
EXAMPLE := $(SHARED)/totalsegmentator-example/ct_3mm_seg.nii.gz

.PHONY: run example test bench build iris lambdas synth deploy vet tools clean cloud-local

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

## tools: tools the tests use (the Khronos glTF validator; goaws and dynalite in bin/tools)
tools:
	@cd tools/gltf && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; }
	@[ -x bin/tools/goaws ] || { cd internal/aws/internal/goaws && GOWORK=off GOFLAGS=-mod=readonly $(GO) build -o $(CURDIR)/bin/tools/goaws .; }
	@[ -f bin/tools/dynalite/node_modules/dynalite/index.js ] || npm install --prefix bin/tools/dynalite --no-audit --no-fund --loglevel=error dynalite@4.0.0

## cloud-local: the AWS deployment on emulators on this machine (the Lambda functions
## as built for AWS, wired by the synthesized template); prints the S3 endpoint and API URL
cloud-local: tools
	$(GO) run ./cloudlocal/cmd/cloud-local

## test: every test — Go (vet, unit, integration), the web app's unit tests, and the
## browser end-to-end runs against a real iris serve (and, for sign-in, a real
## OIDC provider on loopback: web/e2e/oidc-provider.mjs). The reference readers and
## chromium must be installed (see .ci/run).
test: tools iris
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...
	cd web && npm test --silent
	bash web/e2e/serve.sh
	cd web && timeout 600 node e2e/auth.e2e.mjs

## bench: benchmarks side by side with the reference stacks; prints tables
bench: iris
	bash bench/run.sh

clean:
	rm -rf bin out bench/out

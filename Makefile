# IRIS Oculus. `make run` starts the product, `make test` runs every test.
GO      ?= go
SHARED  ?= testdata
BIN     := bin/iris
EXAMPLE := $(SHARED)/totalsegmentator-example/ct_3mm_seg.nii.gz

.PHONY: run example test bench build iris lambdas synth deploy deploy-role vet tools clean release actionlint cloud-local

WEB_SRC := $(shell find web/src web/public -type f 2>/dev/null) web/package-lock.json web/index.html web/vite.config.ts

## build: the iris binary (with the web app) and the Lambda zips
build: iris lambdas

## OPENJPEG: `make iris` decodes JPEG 2000 DICOM with OpenJPEG (-tags openjpeg, cgo, the
## system's libopenjp2: about twice the pure-Go decoder's speed) when pkg-config finds
## libopenjp2; `make iris OPENJPEG=` builds the static pure-Go binary anyway
comma      := ,
OPENJPEG   ?= $(shell pkg-config --exists libopenjp2 2>/dev/null && echo 1)
IRIS_CGO   = $(if $(OPENJPEG),1,0)
IRIS_TAGS  = webdist$(if $(OPENJPEG),$(comma)openjpeg)

## iris: the web app (when missing or stale) and the iris binary embedding it (see OPENJPEG)
iris: web/dist/index.html
	@echo "iris: JPEG 2000 decoder: $(if $(OPENJPEG),OpenJPEG (cgo; needs libopenjp2-7 to run),pure Go (static))"
	CGO_ENABLED=$(IRIS_CGO) $(GO) build -tags $(IRIS_TAGS) -trimpath -o $(BIN) ./cmd/iris

## release: static iris binaries with the web app, version and commit stamped, for every
## platform, and their SHA-256 sums, in bin/release/ (`make release VERSION=v1.2.3`)
RELEASE_DIR       ?= bin/release
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
VERSION           ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT            ?= $(shell git rev-parse HEAD 2>/dev/null)
release: web/dist/index.html
	rm -rf $(RELEASE_DIR) && mkdir -p $(RELEASE_DIR)
	set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; exe=iris-$$os-$$arch; [ $$os != windows ] || exe=$$exe.exe; \
		echo "$(RELEASE_DIR)/$$exe"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -tags webdist -trimpath \
			-ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(RELEASE_DIR)/$$exe ./cmd/iris; \
	done
	cd $(RELEASE_DIR) && { sha256sum iris-* 2>/dev/null || shasum -a 256 iris-*; } > SHA256SUMS

## lambdas: bootstrap zips for provided.al2023/arm64 in bin/lambda/
lambdas:
	bash infra/build-lambdas.sh

infra/_cli/node_modules/.bin/cdk: infra/_cli/package.json infra/_cli/package-lock.json
	cd infra/_cli && npm ci --no-audit --no-fund --loglevel=error

## synth: the CloudFormation template (bin/cdk.out), cdk-nag checked
synth: lambdas infra/_cli/node_modules/.bin/cdk
	infra/_cli/node_modules/.bin/cdk synth -q

## deploy: cdk deploy (needs AWS credentials, a bootstrapped account and Docker; see infra/README.md);
## CDK_DEPLOY_FLAGS adds CLI flags and context (the deploy workflow sets them)
deploy: lambdas infra/_cli/node_modules/.bin/cdk
	infra/_cli/node_modules/.bin/cdk deploy Iris $(CDK_DEPLOY_FLAGS)

## deploy-role: the role GitHub Actions deploys with, once, as an administrator
## (`make deploy-role GITHUB_REPOSITORY=owner/name`; see infra/README.md)
deploy-role: lambdas infra/_cli/node_modules/.bin/cdk
	@case "$(GITHUB_REPOSITORY)" in */*) ;; *) echo "deploy-role: set GITHUB_REPOSITORY=owner/name" >&2; exit 2;; esac
	infra/_cli/node_modules/.bin/cdk deploy IrisDeployRole -c githubOwner=$(firstword $(subst /, ,$(GITHUB_REPOSITORY))) \
		-c githubRepo=$(lastword $(subst /, ,$(GITHUB_REPOSITORY))) $(CDK_DEPLOY_FLAGS)

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
	cd tools/goaws && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" $(GO) build -trimpath -o ../../bin/tools/goaws .

## cloud-local: the AWS deployment on emulators on this machine (the Lambda functions
## as built for AWS, wired by the synthesized template, the web app served as the stack
## deploys it, sign-in at a loopback OIDC provider); prints the site, S3 endpoint and API URL
cloud-local: tools web/dist/index.html
	$(GO) run ./cloudlocal/cmd/cloud-local

## test: every test — Go (vet, unit, integration), the web app's unit tests, and the
## browser end-to-end runs against a real iris serve (and, for sign-in, a real
## OIDC provider on loopback: web/e2e/oidc-provider.mjs) and, from go test
## ./cloudlocal/ (TestCloudLocalBrowser: web/e2e/cloud.e2e.mjs), against the emulated
## AWS deployment serving the built web app; the packages that split work between
## goroutines sharing memory again under the race detector (needs cgo). The
## reference readers and chromium must be installed (see .ci/run).
test: tools iris actionlint
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...
	$(GO) test -race -count=1 -timeout 5m ./internal/mesh/decimate ./internal/export
	cd web && npm test --silent
	bash web/e2e/serve.sh
	cd web && timeout 600 node e2e/auth.e2e.mjs

## actionlint: lint the GitHub workflows, and the shell of their run: steps (with shellcheck)
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
actionlint:
	@command -v shellcheck >/dev/null || { echo "actionlint: shellcheck is not installed (apt-get install shellcheck)" >&2; exit 1; }
	$(GO) run $(ACTIONLINT) -shellcheck=shellcheck

## bench: benchmarks side by side with the reference stacks; prints tables
bench: iris
	bash bench/run.sh

clean:
	rm -rf bin out bench/out

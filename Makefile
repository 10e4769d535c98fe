# IRIS Oculus. `make run` starts the product, `make test` runs every test.
GO      ?= go
SHARED  ?= ../shared/data
BIN     := bin/iris
EXAMPLE := $(SHARED)/totalsegmentator-example/ct_3mm_seg.nii.gz

.PHONY: run example test bench build vet tools clean

## build: the iris binary (static, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/iris

## run: the whole product on this machine (pipeline, API, web app) at http://127.0.0.1:8080/
run: build
	./$(BIN) serve --data iris-data

## example: mesh the shared example label map and print where the models are
example: build
	./$(BIN) mesh $(EXAMPLE) -o out/example

## tools: node tools the tests use (the Khronos glTF validator)
tools:
	@cd tools/gltf && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; }

## test: every test (Go vet + go test; the reference readers must be installed, see .ci/run)
test: tools
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

## bench: benchmarks side by side with the reference stacks; prints tables
bench: build
	bash bench/run.sh

clean:
	rm -rf bin out bench/out

#!/usr/bin/env bash
# Builds the Lambda functions for provided.al2023 on arm64: one static
# binary named bootstrap per function, zipped to bin/lambda/<function>.zip,
# which is what the CDK stack deploys (context lambdaDir to use another
# folder). Run from anywhere; writes relative to the repository root.
#
#   infra/build-lambdas.sh            # all functions
#   infra/build-lambdas.sh api mesher # some
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${LAMBDA_DIR:-$root/bin/lambda}"
go="${GO:-go}"
functions=("$@")
if [ ${#functions[@]} -eq 0 ]; then
	functions=(ingest dispatch mesher status api)
fi

mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for fn in "${functions[@]}"; do
	if [ ! -d "$root/functions/$fn" ]; then
		echo "build-lambdas: no function $fn under functions/" >&2
		exit 1
	fi
	mkdir -p "$work/$fn"
	# lambda.norpc drops aws-lambda-go's RPC mode, which only the retired
	# go1.x runtime used.
	(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 "$go" build -trimpath -tags lambda.norpc \
		-ldflags='-s -w' -o "$work/$fn/bootstrap" "./functions/$fn")
	(cd "$root" && "$go" run ./infra/cmd/lambdazip "$out/$fn.zip" "$work/$fn/bootstrap")
	echo "$out/$fn.zip ($(du -h "$out/$fn.zip" | cut -f1))"
done

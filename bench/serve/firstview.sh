#!/usr/bin/env bash
# The web app's first job view: JavaScript over the wire and time to the
# first drawn organ, in headless Chromium (web/e2e/firstview.bench.mjs)
# against `iris serve` built with the web app, on a fresh data folder.
# Needs Debian's chromium and web/node_modules (npm ci in web/). The app is
# built when web/dist is missing (as make iris does).
# Environment: ROUNDS (default 3), IRIS (a binary built with -tags webdist
# to measure instead of building this tree's).
set -euo pipefail
cd "$(dirname "$0")/../.."

[[ -d web/node_modules/playwright-core ]] || { echo "firstview.sh: web/node_modules missing: cd web && npm ci" >&2; exit 1; }
out=bench/out/serve
mkdir -p "$out"
iris=${IRIS:-}
if [[ -z $iris ]]; then
	[[ -f web/dist/index.html ]] || (cd web && npm run --silent build >/dev/null)
	iris=$out/iris-web
	CGO_ENABLED=0 go build -tags webdist -trimpath -o "$iris" ./cmd/iris
fi
data=$(mktemp -d)
"$iris" serve --data "$data" --addr 127.0.0.1:0 >"$out/firstview-serve.out" 2>"$out/firstview-serve.log" &
pid=$!
trap 'kill -INT $pid 2>/dev/null && wait $pid || true; rm -rf "$data"' EXIT
url=
for _ in $(seq 1 100); do
	url=$(sed -n 's|.*running at \(http://[^/ ]*\)/.*|\1|p' "$out/firstview-serve.out")
	[[ -n $url ]] && break
	kill -0 "$pid" 2>/dev/null || { cat "$out/firstview-serve.log" >&2; exit 1; }
	sleep 0.1
done
[[ -n $url ]] || { echo "firstview.sh: iris serve printed no URL" >&2; exit 1; }
(cd web && IRIS_URL=$url node e2e/firstview.bench.mjs)

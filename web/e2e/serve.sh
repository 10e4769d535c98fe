#!/usr/bin/env bash
# The web app end to end against a real `iris serve` (native engine) on a
# fresh data folder: upload the shared 3 mm CT in headless Chromium, wait
# for done, check the organ list, hide one, take a screenshot; then
# e2e/print.e2e.mjs (label map upload, JavaScript transferred, print pack).
# Needs bin/iris built with the web app (make build) and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=$(mktemp -d)
log="$data/serve.log"
port=$((20000 + RANDOM % 20000))
./bin/iris serve --data "$data/iris-data" --addr "127.0.0.1:$port" --settle 300ms >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
	curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
	sleep 0.2
done
status=0
(cd web && IRIS_URL="http://127.0.0.1:$port" npm run --silent e2e) || status=$?
# A label map, the JavaScript the first job view transfers, and a print pack.
(cd web && IRIS_URL="http://127.0.0.1:$port" node e2e/print.e2e.mjs) || status=$?
if [ "$status" != 0 ]; then
	echo "e2e failed; iris serve log:"
	tail -40 "$log"
fi
exit "$status"

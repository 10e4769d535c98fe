#!/usr/bin/env bash
# The load test of `iris serve`: 200 pollers on GET /api/jobs/{id} while CT
# scans keep flowing through the pipeline: at a browser's pace (one poll a
# second each), ten times that, and back to back; then wrk (if installed)
# for comparison. Prints a table for each; the back-to-back load (the
# issue's figure) runs ROUNDS rounds (default 3) and prints the median and
# range, once as the web app polls (sending back the job's last ETag in
# If-None-Match, web/src/api/client.ts) and once as a client that sends no
# validator (plain GET).
#
# It builds iris and the load program, starts `iris serve` on a temporary
# data folder on a free loopback port, runs the load, and stops the server.
# Environment: IRIS_SHARED_DATA (default testdata/ in the repo root),
# DURATION (default 20s), POLLERS (default 200), ROUNDS (default 3),
# IRIS (an iris binary to measure instead of building this tree's, to
# compare builds).
set -euo pipefail
cd "$(dirname "$0")/../.."

shared=${IRIS_SHARED_DATA:-testdata}
ct=$shared/totalsegmentator-example/ct_3mm.nii.gz
[[ -f $ct ]] || { echo "run.sh: missing $ct (set IRIS_SHARED_DATA)" >&2; exit 1; }
duration=${DURATION:-20s}
pollers=${POLLERS:-200}
rounds=${ROUNDS:-3}

out=bench/out/serve
mkdir -p "$out"
iris=${IRIS:-}
if [[ -z $iris ]]; then
	iris=$out/iris
	CGO_ENABLED=0 go build -trimpath -o "$iris" ./cmd/iris
fi
go build -o "$out/load" ./bench/serve/load

data=$(mktemp -d)
"$iris" serve --data "$data" --addr 127.0.0.1:0 --settle 500ms >"$out/serve.out" 2>"$out/serve.log" &
pid=$!
stop() {
	kill -INT "$pid" 2>/dev/null && wait "$pid" || true
	rm -rf "$data"
}
trap stop EXIT

url=
for _ in $(seq 1 100); do
	url=$(sed -n 's|.*running at \(http://[^/ ]*\)/.*|\1|p' "$out/serve.out")
	[[ -n $url ]] && break
	kill -0 "$pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
	sleep 0.1
done
[[ -n $url ]] || { echo "run.sh: iris serve printed no URL" >&2; exit 1; }
echo "iris serve at $url (pid $pid, data $data); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "references (2026-12-04, before the job answer cache): p99 37 ms at one poll a second, 199 ms back to back; target: back to back p99 < 100 ms"
echo
for interval in 1s 100ms; do
	"$out/load" -url "$url" -upload "$ct" -pollers "$pollers" -duration "$duration" -interval "$interval" \
		-label "paced: each poller every $interval" -json "$out/paced-$interval.json"
	echo
done
"$out/load" -url "$url" -upload "$ct" -pollers "$pollers" -duration "$duration" -interval 0 -etag \
	-rounds "$rounds" -label "closed loop: back to back, If-None-Match as the web app sends it" -json "$out/closed-etag.json"
echo
"$out/load" -url "$url" -upload "$ct" -pollers "$pollers" -duration "$duration" -interval 0 \
	-rounds "$rounds" -label "closed loop: back to back, plain GET (a client sending no ETag)" -json "$out/closed.json"

if command -v wrk >/dev/null; then
	echo
	id=$(curl -s "$url/api/jobs?limit=1" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -1)
	# Jobs keep running during wrk too: the load program with no pollers
	# only uploads.
	"$out/load" -url "$url" -upload "$ct" -pollers 0 -duration 15s -warmup 0s -label "uploads during wrk" >/dev/null 2>&1 &
	up=$!
	echo "wrk, $pollers connections, 2 threads, GET /api/jobs/$id (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
	wrk -t2 -c"$pollers" -d12s --latency "$url/api/jobs/$id" | sed -n '/Latency/,/Transfer/p'
	wait "$up" || true
else
	echo "(wrk not installed: apt-get install wrk to compare)"
fi

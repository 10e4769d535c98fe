#!/usr/bin/env bash
# bench/build-iris.sh OUT: builds this tree's iris (no web app) at OUT with
# the JPEG 2000 decoder `make iris` picks: OpenJPEG (-tags openjpeg, cgo)
# when pkg-config finds libopenjp2, else the static pure-Go one. J2K=openjpeg
# or J2K=purego forces one. Prints which, for the benchmark's record.
set -euo pipefail
out=${1:?usage: bench/build-iris.sh OUT}
j2k=${J2K:-}
if [[ -z $j2k ]]; then
	j2k=purego
	pkg-config --exists libopenjp2 2>/dev/null && j2k=openjpeg
fi
case $j2k in
openjpeg) CGO_ENABLED=1 go build -tags openjpeg -trimpath -o "$out" ./cmd/iris ;;
purego) CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/iris ;;
*) echo "bench/build-iris.sh: J2K=$j2k: want openjpeg or purego" >&2; exit 2 ;;
esac
echo "iris: this tree, JPEG 2000 decoded by $j2k"

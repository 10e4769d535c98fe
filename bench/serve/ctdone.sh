#!/usr/bin/env bash
# A CT done in seconds: `iris serve` (native engine) from the end of the
# upload to done, for the 512×512×300 JPEG 2000 series (made here from the
# shared 20-slice one by bench/dicom/make_series.py, cached in
# bench/out/dicom/, shared with bench/dicom/run.sh), sent as the web app
# sends a folder: one stored zip. ROUNDS rounds (default 3), each on a
# fresh server; prints every round, the median with the range, and each
# stage's share from the job record's stage timestamps.
# Environment: IRIS_SHARED_DATA (default testdata/), IRIS_PYTHON (default
# /usr/bin/python3, with pydicom), SLICES (default 300), ROUNDS, IRIS (a
# binary to measure instead of building this tree's), J2K (openjpeg, the
# default when pkg-config finds libopenjp2, as `make iris` builds; purego:
# the static CGO_ENABLED=0 build).
set -euo pipefail
cd "$(dirname "$0")/../.."

py=${IRIS_PYTHON:-/usr/bin/python3}
src=${IRIS_SHARED_DATA:-testdata}/totalsegmentator-example/dicom
n=${SLICES:-300}
series=bench/out/dicom/j2k-$n
if [[ ! -f $series/.done ]]; then
	rm -rf "$series"
	mkdir -p bench/out/dicom
	"$py" bench/dicom/make_series.py "$src" "$series" "$n" j2k
	touch "$series/.done"
fi
out=bench/out/serve
mkdir -p "$out"
iris=${IRIS:-}
if [[ -z $iris ]]; then
	iris=$out/iris
	bash bench/build-iris.sh "$iris"
fi
go build -o "$out/ctdone" ./bench/serve/ctdone
"$out/ctdone" -iris "$iris" -dir "$series" -rounds "${ROUNDS:-3}"

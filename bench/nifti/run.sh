#!/usr/bin/env bash
# Go's volume.ReadFile against nibabel on the same ~100 MB (decoded) int16
# CT .nii.gz, read to an int16 array. The file is generated once by
# BenchmarkReadLarge (deterministic phantom with scanner-like noise) and
# kept in bench/out/nifti/. Rounds alternate Go and nibabel so that load
# from other processes hits both alike; one warm-up round is discarded.
#
#   bash bench/nifti/run.sh [ROUNDS]     (default 7)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
rounds=${1:-7}
out=$root/bench/out/nifti
mkdir -p "$out"
file=$out/ct_large.nii.gz
py=${IRIS_PYTHON:-/usr/bin/python3}

go test -c -o "$out/volume.test" ./internal/volume
gobench() {
	(cd internal/volume && IRIS_NIFTI_BENCH_FILE=$file "$out/volume.test" \
		-test.run '^$' -test.bench '^BenchmarkReadLarge$' -test.benchtime 1x) |
		awk '/^BenchmarkReadLarge/ { printf "%.4f\n", $3 / 1e9 }'
}

gobench >/dev/null # generates the file the first time
"$py" bench/nifti/nibabel_read.py "$file" 1 >/dev/null
: >"$out/go.txt"
: >"$out/nibabel.txt"
for _ in $(seq "$rounds"); do
	gobench >>"$out/go.txt"
	"$py" bench/nifti/nibabel_read.py "$file" 1 >>"$out/nibabel.txt"
done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
g=$(median "$out/go.txt")
n=$(median "$out/nibabel.txt")
echo "file: $(du -m "$file" | cut -f1) MB gzipped, 512x512x200 int16 (105 MB decoded); $rounds rounds; $(nproc) CPUs"
printf '%-44s %10s %7s\n' reader "median s" ratio
printf '%-44s %10.3f %7.2f\n' "go volume.ReadFile" "$g" 1
printf '%-44s %10.3f %7.2f\n' "nibabel np.asanyarray(nib.load(p).dataobj)" "$n" "$(awk -v a="$n" -v b="$g" 'BEGIN { print a / b }')"

#!/usr/bin/env bash
# DICOM series → .nii: `iris convert` against dcm2niix on a 512×512×N series
# (default N = 300) in three transfer syntaxes, each run as a child process
# writing one uncompressed .nii, back to back in each round, ROUNDS rounds
# (default 3). Prints wall, CPU (user+sys) and peak RSS as medians with the
# range, the per-round ratio dcm2niix/ours, and checks that every output of
# ours equals dcm2niix's voxel for voxel (affine within 1e-4 mm).
#
# The series are generated here, deterministically, from the shared 20-slice
# JPEG 2000 series (bench/dicom/make_series.py: tiled along z; "native" is
# it decoded by pydicom, "jpegll" that re-encoded by dcmtk's dcmcjpeg +el),
# and cached in bench/out/dicom/ (~250 MB; never committed).
# Environment: IRIS_SHARED_DATA (default testdata/), IRIS_PYTHON (default
# /usr/bin/python3 with pydicom, Pillow, nibabel), SLICES, ROUNDS,
# SYNTAXES (default "j2k native jpegll"), IRIS (a binary to measure instead
# of building this tree's), J2K (openjpeg, the default when pkg-config finds
# libopenjp2: build with -tags openjpeg and cgo, JPEG 2000 decoded by
# OpenJPEG as dcm2niix does; purego: the static CGO_ENABLED=0 build that
# `make iris` and the Lambdas use, JPEG 2000 decoded in pure Go).
set -euo pipefail
cd "$(dirname "$0")/../.."

py=${IRIS_PYTHON:-/usr/bin/python3}
src=${IRIS_SHARED_DATA:-testdata}/totalsegmentator-example/dicom
n=${SLICES:-300}
rounds=${ROUNDS:-3}
out=bench/out/dicom
mkdir -p "$out"
for t in dcm2niix dcmcjpeg; do
	command -v $t >/dev/null || { echo "bench/dicom: needs $t (apt-get install dcm2niix dcmtk)" >&2; exit 1; }
done
iris=${IRIS:-}
if [[ -z $iris ]]; then
	iris=$out/iris
	bash bench/build-iris.sh "$iris"
fi

series() { # syntax → folder, made once
	local s=$1 d=$out/$1-$n
	if [[ ! -f $d/.done ]]; then
		rm -rf "$d"
		case $s in
		j2k | native) "$py" bench/dicom/make_series.py "$src" "$d" "$n" "$s" ;;
		jpegll)
			local nat
			nat=$(series native)
			mkdir -p "$d"
			for f in "$nat"/*.dcm; do dcmcjpeg +el +sv 1 "$f" "$d/${f##*/}"; done
			;;
		esac
		touch "$d/.done"
	fi
	echo "$d"
}

tsv=$out/runs.tsv
: >"$tsv"
measure() { # label syntax round cmd... → one TSV row: wall cpu rss
	local label=$1 syn=$2 r=$3
	shift 3
	local tf=$out/time.txt
	/usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >/dev/null 2>"$out/$label.err" ||
		{ echo "bench/dicom: $label failed on $syn:" >&2; cat "$out/$label.err" >&2; exit 1; }
	read -r wall user sys rss <"$tf"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$syn" "$label" "$r" "$wall" "$(echo "$user + $sys" | bc)" "$rss" >>"$tsv"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $n slices of 512×512; $rounds rounds; iris: $iris; tree $(git rev-parse --short HEAD 2>/dev/null)"
for syn in ${SYNTAXES:-j2k native jpegll}; do
	d=$(series "$syn")
	for r in $(seq "$rounds"); do
		rm -f "$out/ours.nii"
		measure ours "$syn" "$r" "$iris" convert "$d" -o "$out/ours.nii" -q
		rm -rf "$out/ref" && mkdir -p "$out/ref"
		measure dcm2niix "$syn" "$r" dcm2niix -z n -b n -f ref -o "$out/ref" "$d"
		"$py" bench/dicom/compare.py "$out/ours.nii" "$out/ref/ref.nii" || { echo "bench/dicom: $syn: ours differs from dcm2niix" >&2; exit 1; }
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" bench/dicom/table.py "$tsv"

#!/usr/bin/env bash
# Native engine Dice against reference masks, as a table. With no
# arguments: the two shared cases, which are the engine's TUNING data (its
# thresholds were chosen on them), then the one HELD-OUT case, the 82
# slices of the same example scan that the tuning slab leaves out (made by
# heldout.py; never used to choose a threshold: keep it that way). Give
# other cases as CT REF_LABELS [MAPPING] pairs or triples to measure what
# the thresholds never saw:
#   bench/segment/run.sh [CT REF_LABELS [MAPPING.json]]...
# Needs /usr/bin/python3 with python3-nibabel; builds bin/iris.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${IRIS_PYTHON:-/usr/bin/python3}
"$py" -c 'import nibabel, numpy' 2>/dev/null || { echo "run.sh: $py lacks nibabel: apt-get install python3-nibabel" >&2; exit 1; }
mkdir -p bin
go build -o bin/iris ./cmd/iris
data=testdata/totalsegmentator-example
map=bench/segment/totalsegmentator.json
echo "| case | class | Dice | ours (mL) | reference (mL) |"
echo "|---|---|---:|---:|---:|"
if (($# == 0)); then
	"$py" bench/segment/evaluate.py "$data/ct_3mm.nii.gz" "$data/ct_3mm_seg.nii.gz" "$map" --name "ct_3mm (tuning)"
	"$py" bench/segment/evaluate.py "$data/dicom" "$data/dicom_seg.nii.gz" "$map" --name "dicom (tuning)"
	"$py" bench/segment/evaluate.py "$data/ct_3mm_heldout.nii.gz" "$data/ct_3mm_heldout_seg.nii.gz" "$map" --name "ct_3mm_heldout (held-out)"
	exit 0
fi
while (($#)); do
	ct=$1 ref=${2:?each case is CT REF_LABELS [MAPPING]}
	shift 2
	m=$map
	if (($#)) && [[ $1 == *.json ]]; then m=$1; shift; fi
	"$py" bench/segment/evaluate.py "$ct" "$ref" "$m"
done

#!/usr/bin/env bash
# make bench: every benchmark, side by side with the reference stacks, as
# tables. Needs the reference Python stacks (Debian): python3-nibabel
# python3-skimage python3-open3d python3-vtk9 python3-torch, and dcm2niix;
# chromium and web/node_modules (npm ci in web/) for the web app's figures.
# Arguments go to the mesh benchmark (e.g. --quick to skip the large input).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== NIfTI read: Go vs nibabel =="
bash bench/nifti/run.sh

echo "== DICOM 512×512×300 series → .nii: iris convert vs dcm2niix, JPEG 2000 / native / JPEG lossless, median of 3 =="
bash bench/dicom/run.sh

echo "== DICOM 20-slice series → .nii: iris convert vs dcm2niix, both as processes writing a .nii =="
echo "(ConvertProcess vs Dcm2niix is like with like; ReadDir is in process, no file; ReadDirWriteNII in process, with the file)"
go test -run '^$' -bench 'ReadDir$|ReadDirWriteNII|ConvertProcess|Dcm2niix' -benchtime 3x ./internal/dicom | grep -E '^Benchmark|ok'

echo "== Native CT engine: speed and quality against TotalSegmentator =="
echo "Dice against TotalSegmentator on its examples (neither reference holds a trachea),"
echo "then on the synthetic chest phantom (the only airway truth here), then speed:"
go test -run '^(TestDiceAgainstTotalSegmentator|TestPhantom)$' -v -bench 'Native' -benchtime 3x ./internal/segment |
	grep -E '^Benchmark|_test.go:[0-9]+: |^ok' | sed -E 's/^ +[a-z_]+_test.go:[0-9]+: /  /'

echo "== Native engine Dice, reproducible from the files (bench/segment/run.sh; two TUNING cases, then the held-out slices) =="
bash bench/segment/run.sh

echo "== Batch throughput: iris segment (native) and iris mesh over the shared cases =="
echo "(2 scans a batch: the 3 mm CT and the DICOM series zip; 2 label maps; default -j)"
go test -run '^$' -bench 'Batch' -benchtime 3x -count 3 ./cmd/iris | grep -E '^Benchmark|ok'

echo "== totalseg-fast network: Go vs PyTorch CPU =="
bash bench/nnunet/run.sh

echo "== Meshing: ours vs VTK vs skimage+Open3D =="
bash bench/mesh/run.sh "$@"

echo "== Meshing a full-resolution 512×512×600 map (ours only): peak RSS against the mesher Lambda's 3008 MB =="
big512=bench/out/big512_labels.nii.gz
if [[ ! -f $big512 ]]; then
	go build -o bench/out/biglabels ./bench/cmd/biglabels
	bench/out/biglabels -src "${IRIS_SHARED_DATA:-testdata}/totalsegmentator-example/ct_3mm_seg.nii.gz" -o "$big512" -factor 3 -nx 512 -ny 512 -nz 600
fi
go build -o bench/out/iris ./cmd/iris
for r in 1 2 3; do
	rm -rf bench/out/mesh512
	/usr/bin/time -f "run $r: %e s wall, %U+%S s CPU, peak RSS %M KB (Lambda: 3008 MB = 3080192 KB)" \
		bench/out/iris mesh "$big512" -o bench/out/mesh512 -q 2>&1 | tail -1
done

echo "== API under load: 200 pollers (1/s, 10/s, back to back) while jobs mesh, p99 =="
bash bench/serve/run.sh

echo "== A CT done in seconds: iris serve (native), upload end → done, 512×512×300 JPEG 2000 series, stage shares (target < 10 s) =="
bash bench/serve/ctdone.sh

echo "== Web app, first job view: JavaScript over the wire (target < 600 kB) and time to the first drawn organ, headless Chromium =="
bash bench/serve/firstview.sh

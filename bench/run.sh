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
mkdir -p bench/out
bash bench/dicom/run.sh | tee bench/out/summary-dicom.txt

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
done | tee bench/out/summary-mesh512.txt

echo "== API under load: 200 pollers (1/s, 10/s, back to back) while jobs mesh, p99 =="
bash bench/serve/run.sh | tee bench/out/summary-api.txt

echo "== A CT done in seconds: iris serve (native), upload end → done, 512×512×300 JPEG 2000 series, stage shares (target < 10 s) =="
bash bench/serve/ctdone.sh | tee bench/out/summary-ctdone.txt

echo "== Web app, first job view: JavaScript over the wire (target < 600 kB) and time to the first drawn organ, headless Chromium =="
bash bench/serve/firstview.sh | tee bench/out/summary-firstview.txt

# Issue 14's five figures, gathered from the runs above, each with its
# reference and target as those scripts printed them.
echo
echo "== Summary: issue 14's five figures (medians with ranges; details above) =="
echo "1. Mesher on big_labels, ours against VTK in the same run:"
grep -E '^- (PASS|FAIL) (≥ 20×|≥ 10×|peak RSS)' bench/out/mesh-bench.md | sed 's/^/   /' || echo "   (not run)"
echo "   512×512×600 map, ours (Lambda 3008 MB):"
sed 's/^/   /' bench/out/summary-mesh512.txt
echo "2. DICOM 512×512×300 → .nii against dcm2niix (wall ratio per round; target ≥ 1.5×):"
grep -E '^\| (j2k|native|jpegll) \| ours' bench/out/summary-dicom.txt | sed 's/^/   /' || echo "   (not run)"
echo "3. A CT done on iris serve (target < 10 s):"
grep -E '^upload end → done: median' bench/out/summary-ctdone.txt | sed 's/^/   /' || echo "   (not run)"
echo "4. First job view (target < 600 kB of JavaScript):"
grep -E '^(JavaScript over the wire|time to the first drawn organ)' bench/out/summary-firstview.txt | sed 's/^/   /' || echo "   (not run)"
echo "5. API, 200 pollers back to back while jobs mesh (target p99 < 100 ms):"
grep -E '3 rounds: median' bench/out/summary-api.txt | sed 's/^/   /' || echo "   (not run)"
echo "   one poll a second each (the figure to keep):"
grep -E -A2 '^paced: each poller every 1s' bench/out/summary-api.txt | grep -E '^ +\|' | sed 's/^ */   /' || echo "   (not run)"

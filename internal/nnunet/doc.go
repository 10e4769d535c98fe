// Package nnunet runs nnU-Net v2 3d_fullres PlainConvUNet models on the
// CPU, in Go, and with them TotalSegmentator's published --fast network
// (task 297, 117 classes of the v2 "total" task at 3 mm): no Python, no
// GPU. Engine is that model as an iris segmentation engine
// ("totalseg-fast"); Model, Network, Predictor and Pipeline are its parts.
//
// It reads nnU-Net's plans.json (the schema of nnU-Net <= 2.3, which
// TotalSegmentator's weights use, and of >= 2.4), dataset.json and
// fold_N/checkpoint_final.pth. The checkpoint, a PyTorch zip archive, is
// unpickled by github.com/nlpodyssey/gopickle; only the globals torch.save
// writes for tensors are given meaning, every other one (torch.device,
// numpy scalars, _codecs.encode) is an inert value and nothing in a file
// is ever run. Only the network_weights tensors are read (the optimizer's
// momentum buffers, as large again, are skipped), after the pickle program
// has been checked for lengths past its end, with views bounded by their
// storage. It does not run other architectures (ResEnc, cascades), other
// normalisations than CTNormalization, multi-channel inputs or region-
// based labels; ParsePlans refuses them.
//
// Convolutions are im2col plus a single-precision GEMM over tiles of
// output rows, so the column buffer is bounded (8 MiB per worker) whatever
// the volume. On amd64 with AVX2 and FMA the GEMM is a hand-written 4x16
// assembly micro-kernel fed by im2col writing straight into its panels:
// no maintained pure-Go BLAS uses AVX (gonum's float32 kernels are SSE
// without FMA; on the heaviest layer, BenchmarkConvLayer, gonum gave 1.1
// GFLOPS and the kernel 9.5, minutes apart on the shared 2-core machine
// at load averages of 29 and 19, so the ratio is indicative). Elsewhere gonum's
// Sgemm runs. The float16 rounding is github.com/x448/float16.
//
// # TotalSegmentator --fast, step by step
//
// Upstream is TotalSegmentator HEAD 0e65a448 (nnunet.py, resampling.py),
// nnU-Net v2 HEAD 0e495086 (preprocessing, inference) and
// dynamic_network_architectures (PlainConvUNet); the facts and line
// numbers are in the project's design notes (facts/nnunet-
// totalsegmentator.md). Each step is checked against a reference written
// by tools/nnunet/ref.py with PyTorch, numpy, scipy and nibabel
// (testdata/tiny/ref.npz), in `go test`, without Python.
//
//  1. Reorientation (TS as_closest_canonical): voxels are permuted and
//     flipped to RAS by io_orientation, as nibabel does. Follows upstream.
//     TS first copies the image as float64 (get_fdata); here the int16 HU
//     are widened, which is the same values.
//  2. Resampling to 3 mm (TS change_spacing, order 1, mode "nearest",
//     then astype(int32)): scipy.ndimage.zoom ported with its coordinate
//     rule (o*(in-1)/(out-1)), its output shape (round half to even), its
//     neighbour order and its float64 products, then truncation; skipped
//     when the spacing is exactly the target (np.array_equal), as TS HEAD
//     does (resampling.py change_spacing).
//     Bit-equal with scipy on the test crop (TestZoom). The spacing is the
//     affine's column norm rounded to float32, as nibabel's header stores
//     it. TS v2.0.0 used order 3 with mode "constant"; HEAD is followed.
//  3. nnU-Net's reader and transpose_forward: the (z, y, x) array nnU-Net
//     sees is our voxel layout; transpose_forward is applied as given.
//     nnU-Net's own resampling is a no-op after TS's (same computed
//     shape); a model whose spacing would need it is refused rather than
//     resampled differently (its order-3 separate-z resampling is not
//     ported).
//  4. crop_to_nonzero: the bounding box of non-zero voxels (filling holes
//     in the mask cannot change a bounding box, so it is not done).
//  5. CTNormalization in float32 from the plans' intensity properties:
//     clip to the 0.5/99.5 percentiles, minus the mean, over max(std,
//     1e-8). Bit-equal with numpy (TestCTNormalization).
//  6. Sliding window (predict_sliding_window_return_logits, CPU path, no
//     mirroring: the checkpoint's trainer is *_NoMirroring and TS passes
//     no TTA): zero padding where smaller than the patch (below = diff/2),
//     tile steps ceil((size-patch)/(patch*step))+1 rounded half to even,
//     step 0.8 as TS passes for "total" since 2024 (0.5 before), the
//     Gaussian (sigma patch/8, scaled to 10, float16, zeros replaced by the
//     minimum; bit-equal, TestGaussianBitExact), and the accumulation of
//     weighted logits and weights in float16 with float32 arithmetic, then
//     a float16 division, exactly as torch.half does on the CPU
//     (TestSlidingWindow: >99.5 % of half floats bit-equal, the rest one
//     ulp off through float32 rounding inside the network). Tiles run one
//     after another, each on all cores; Progress is told tiles done of total.
//  7. The network: PlainConvUNet with nnU-Net's defaults (conv bias,
//     affine InstanceNorm3d eps 1e-5, LeakyReLU 0.01, decoder: transposed
//     convolution, concatenation (upsampled, skip), convolutions; the last
//     1x1x1 seg layer only). Float32 throughout, as nnU-Net on the CPU (on
//     CUDA it runs under float16 autocast, which a CPU port cannot match
//     bit for bit). Instance-norm statistics are summed in float64.
//     Checked per layer type and end to end (TestLayers, TestForwardTiny;
//     the --fast shape in the benchmark).
//  8. Argmax over classes on the float16 logits, first maximum on a tie;
//     no softmax (nnU-Net's convert_logits_to_segmentation).
//  9. Back: into the uncropped grid, transpose_backward, zoom order 0 to
//     the canonical shape when it was resampled (scipy's floor(x+0.5)
//     nearest rule, bit-equal), then the reorientation undone. Equal to
//     the Python pipeline on 99.9997 % of the shared CT's voxels and 100 %
//     of a resampled LPS crop (TestPipelineSharedCT, TestPipelineResampled).
//  10. Labels: class id c is v2 "total" label value c (TotalSegmentator's
//     class_map numbers the output channels); names and colours come from
//     internal/labels, which follows TS's current class_map, and the label
//     map carries the Caret label-table extension TS writes. The v2.0.0
//     dataset.json named the ribs in a different order, a bug TS fixed in
//     2.2.1 in its class map without new weights, so names are taken from
//     the table and not from dataset.json; a model whose other names do
//     not match is refused (CheckTotalSegmentatorLabels).
//
// Not ported: TotalSegmentator's optional steps (--roi_subset cropping,
// --higher_order_resampling, --remove_small_blobs, body-part checks) and
// nnU-Net's multi-process preprocessing.
//
// # Weights
//
// ResolveWeights uses, in order, the cache folder (default
// <user cache>/iris/nnunet, --weights-dir), TotalSegmentator's own
// ~/.totalsegmentator/nnunet/results (or $TOTALSEG_HOME_DIR), and else
// downloads the release zip TotalSegmentator downloads (TotalFast.URL)
// with progress, a length check, a SHA-256 (pinned if known, else recorded
// at first download and checked on every later use) and a bounded unzip
// that refuses paths leaving the folder; the task's licence (Apache-2.0
// for "total") is logged with the source. Weights are never bundled.
//
// # Not verified without the real weights
//
// No step above has run on the released Dataset297 weights: they are not
// reachable from where this was written. What only they can show: that
// the real plans.json has the assumed shape (5 stages 32..320, patch
// 112x112x128; an estimate from third-party code and the file size) and
// intensity statistics; that its checkpoint unpickles with the same
// globals; and the Dice of this engine against TotalSegmentator's own
// output on testdata/totalsegmentator-example/ct_3mm.nii.gz
// (ct_3mm_seg.nii.gz). To check, with internet access:
//
//	iris segment testdata/totalsegmentator-example/ct_3mm.nii.gz -o go.nii.gz --engine totalseg-fast
//	TotalSegmentator -i testdata/totalsegmentator-example/ct_3mm.nii.gz -o ts.nii.gz --fast --ml --device cpu
//
// and compare the two label maps per class (expect Dice near 1: both run
// the same network in float32 on the CPU; GPU runs of TotalSegmentator use
// float16 and differ slightly). Pin the zip's SHA-256 in TotalFast then.
package nnunet

#!/usr/bin/python3
"""Reference data for internal/nnunet, written with PyTorch (Debian python3-torch 1.13), numpy and scipy.

It rebuilds dynamic_network_architectures' PlainConvUNet (same module tree, so the same state-dict keys,
duplicates included), saves random-weight checkpoints in nnU-Net v2's layout (checkpoint_final.pth with
network_weights, optimizer_state, logging with numpy scalars, init_args with a torch.device, storages tagged
cuda:0 as on a training GPU) beside plans.json and dataset.json, and writes what the Go port must reproduce:

  tiny   internal/nnunet/testdata/tiny/...: a 3-stage, 6-class model (anisotropic kernels and strides, a
         feature cap) and ref.npz: every layer's input and output, the end-to-end logits, nnU-Net's Gaussian,
         sliding-window logits (float16 accumulation, step 0.5 and 0.8, padding), scipy.ndimage.zoom as
         TotalSegmentator resamples (order 1 nearest to the model spacing, order 0 back), CT normalisation, and
         the whole TotalSegmentator --fast pipeline on the shared CT (testdata/totalsegmentator-example).
         Committed (< 2 MB), so `go test` needs no torch.
  fast   DIR/...: the --fast model's shape (5 stages 32..320, patch 112x112x128, 118 classes; the shape is
         an estimate, see shared/design/facts/nnunet-totalsegmentator.md section 5), random weights, plus an
         input patch and PyTorch's logits and CPU timings for the benchmark. Not committed (~66 MB).

The upstream code it mirrors (read, not imported; none of it is installed here):
  dynamic_network_architectures  architectures/unet.py, building_blocks/{plain_conv_encoder,simple_conv_blocks,unet_decoder}.py
  nnunetv2 (HEAD 0e495086)        inference/sliding_window_prediction.py, predict_from_raw_data.py,
                                 preprocessing/normalization/default_normalization_schemes.py (CTNormalization)
  TotalSegmentator (HEAD 0e65a448) nnunet.py, resampling.py (change_spacing), alignment.py

usage: ref.py tiny [OUTDIR]      (default internal/nnunet/testdata)
       ref.py fast OUTDIR [--threads N[,N...]] [--repeats N]
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.serialization
from torch import nn

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ---- PlainConvUNet, module for module as dynamic_network_architectures builds it ----

class ConvDropoutNormReLU(nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride, padding=[(k - 1) // 2 for k in kernel], bias=True)
        self.norm = nn.InstanceNorm3d(cout, eps=1e-5, affine=True)
        self.nonlin = nn.LeakyReLU(negative_slope=0.01, inplace=True)
        self.all_modules = nn.Sequential(self.conv, self.norm, self.nonlin)

    def forward(self, x):
        return self.all_modules(x)


class StackedConvBlocks(nn.Module):
    def __init__(self, n, cin, cout, kernel, first_stride):
        super().__init__()
        self.convs = nn.Sequential(
            ConvDropoutNormReLU(cin, cout, kernel, first_stride),
            *[ConvDropoutNormReLU(cout, cout, kernel, 1) for _ in range(1, n)])

    def forward(self, x):
        return self.convs(x)


class PlainConvEncoder(nn.Module):
    def __init__(self, features, kernels, strides, n_conv):
        super().__init__()
        stages, cin = [], 1
        for s in range(len(features)):
            stages.append(nn.Sequential(StackedConvBlocks(n_conv[s], cin, features[s], kernels[s], strides[s])))
            cin = features[s]
        self.stages = nn.Sequential(*stages)
        self.output_channels, self.strides, self.kernel_sizes = features, strides, kernels

    def forward(self, x):
        ret = []
        for s in self.stages:
            x = s(x)
            ret.append(x)
        return ret


class UNetDecoder(nn.Module):
    def __init__(self, encoder, num_classes, n_conv):
        super().__init__()
        self.encoder = encoder
        stages, transpconvs, seg_layers = [], [], []
        n = len(encoder.output_channels)
        for s in range(1, n):
            below, skip = encoder.output_channels[-s], encoder.output_channels[-(s + 1)]
            st = encoder.strides[-s]
            transpconvs.append(nn.ConvTranspose3d(below, skip, st, st, bias=True))
            stages.append(StackedConvBlocks(n_conv[s - 1], 2 * skip, skip, encoder.kernel_sizes[-(s + 1)], 1))
            seg_layers.append(nn.Conv3d(skip, num_classes, 1, 1, 0, bias=True))
        self.stages = nn.ModuleList(stages)
        self.transpconvs = nn.ModuleList(transpconvs)
        self.seg_layers = nn.ModuleList(seg_layers)

    def forward(self, skips):
        lres = skips[-1]
        for s in range(len(self.stages)):
            x = self.transpconvs[s](lres)
            x = torch.cat((x, skips[-(s + 2)]), 1)
            x = self.stages[s](x)
            lres = x
        return self.seg_layers[-1](x)


class PlainConvUNet(nn.Module):
    def __init__(self, features, kernels, strides, n_conv, n_conv_dec, num_classes):
        super().__init__()
        self.encoder = PlainConvEncoder(features, kernels, strides, n_conv)
        self.decoder = UNetDecoder(self.encoder, num_classes, n_conv_dec)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def build(plans, dataset):
    c = plans["configurations"]["3d_fullres"]
    kernels = [tuple(k) for k in c["conv_kernel_sizes"]]
    strides = [tuple(s) for s in c["pool_op_kernel_sizes"]]
    features = [min(c["UNet_base_num_features"] * 2 ** i, c["unet_max_num_features"]) for i in range(len(kernels))]
    net = PlainConvUNet(features, kernels, strides, c["n_conv_per_stage_encoder"], c["n_conv_per_stage_decoder"],
                        len(dataset["labels"]))
    net.apply(init_weights)
    return net


def init_weights(m):
    # nnU-Net's InitWeights_He(1e-2) for convs; the norm's affine made non-trivial so a port that ignored it fails.
    if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
        nn.init.kaiming_normal_(m.weight, a=1e-2)
        nn.init.normal_(m.bias, 0, 0.1)
    if isinstance(m, nn.InstanceNorm3d):
        nn.init.normal_(m.weight, 1, 0.2)
        nn.init.normal_(m.bias, 0, 0.2)


def plans_json(name, patch, kernels, strides, base, cap, n_conv, n_conv_dec, spacing, intensity):
    cfg = {
        "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
        "patch_size": patch, "median_image_size_in_voxels": [s * 2 for s in patch], "spacing": spacing,
        "normalization_schemes": ["CTNormalization"], "use_mask_for_norm": [False],
        "UNet_class_name": "PlainConvUNet", "UNet_base_num_features": base, "n_conv_per_stage_encoder": n_conv,
        "n_conv_per_stage_decoder": n_conv_dec, "num_pool_per_axis": [sum(1 for s in strides if s[a] > 1) for a in range(3)],
        "pool_op_kernel_sizes": strides, "conv_kernel_sizes": kernels, "unet_max_num_features": cap,
        "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
        "batch_dice": False,
    }
    return {
        "dataset_name": name, "plans_name": "nnUNetPlans", "original_median_spacing_after_transp": spacing,
        "original_median_shape_after_transp": [s * 2 for s in patch], "image_reader_writer": "NibabelIOWithReorient",
        "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {"3d_fullres": cfg}, "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager", "foreground_intensity_properties_per_channel": {"0": intensity},
    }


def new_schema(plans):
    """The same plans in nnU-Net >= 2.4's schema (architecture.arch_kwargs), for the Go parser's test."""
    p = json.loads(json.dumps(plans))
    c = p["configurations"]["3d_fullres"]
    n = len(c["conv_kernel_sizes"])
    c["architecture"] = {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": n,
            "features_per_stage": [min(c["UNet_base_num_features"] * 2 ** i, c["unet_max_num_features"]) for i in range(n)],
            "conv_op": "torch.nn.modules.conv.Conv3d", "kernel_sizes": c["conv_kernel_sizes"],
            "strides": c["pool_op_kernel_sizes"], "n_conv_per_stage": c["n_conv_per_stage_encoder"],
            "n_conv_per_stage_decoder": c["n_conv_per_stage_decoder"], "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d", "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None, "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True}},
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}
    for k in ["UNet_class_name", "UNet_base_num_features", "n_conv_per_stage_encoder", "n_conv_per_stage_decoder",
              "num_pool_per_axis", "pool_op_kernel_sizes", "conv_kernel_sizes", "unet_max_num_features"]:
        del c[k]
    return p


def save_model(folder, net, plans, dataset):
    """Writes plans.json, dataset.json and fold_0/checkpoint_final.pth as nnU-Net v2's trainer does."""
    os.makedirs(os.path.join(folder, "fold_0"), exist_ok=True)
    with open(os.path.join(folder, "plans.json"), "w") as f:
        json.dump(plans, f, indent=4)
    with open(os.path.join(folder, "dataset.json"), "w") as f:
        json.dump(dataset, f, indent=4)
    opt = torch.optim.SGD(net.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)
    for p in net.parameters():  # one step, so the optimizer state holds a momentum buffer per parameter
        p.grad = torch.zeros_like(p)
    opt.step()
    for p in net.parameters():
        p.grad = None
    logging = {k: [np.float64(0.5), np.float64(0.6)] for k in
               ["mean_fg_dice", "ema_fg_dice", "train_losses", "val_losses", "lrs"]}
    logging["dice_per_class_or_region"] = [[np.float64(0.5)] * (len(dataset["labels"]) - 1)]
    logging["epoch_start_timestamps"] = [1.0, 2.0]
    logging["epoch_end_timestamps"] = [1.5, 2.5]
    ckpt = {
        "network_weights": net.state_dict(),
        "optimizer_state": opt.state_dict(),
        "grad_scaler_state": None,
        "logging": logging,
        "_best_ema": np.float64(0.6),
        "current_epoch": 4000,
        "init_args": {"plans": plans, "configuration": "3d_fullres", "fold": 0, "dataset_json": dataset,
                      "unpack_dataset": True, "device": torch.device("cuda", 0)},
        "trainer_name": "nnUNetTrainer_4000epochs_NoMirroring",
        "inference_allowed_mirroring_axes": None,
    }
    # Tag storages as a GPU-trained checkpoint's are; nnU-Net loads with map_location='cpu'.
    orig = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(ckpt, os.path.join(folder, "fold_0", "checkpoint_final.pth"))
    finally:
        torch.serialization.location_tag = orig


# ---- nnU-Net v2 inference (HEAD), as used on the CPU ----

def compute_steps(image_size, tile, step):
    target = [i * step for i in tile]
    num = [int(np.ceil((i - k) / j)) + 1 for i, j, k in zip(image_size, target, tile)]
    steps = []
    for d in range(len(tile)):
        mx = image_size[d] - tile[d]
        actual = mx / (num[d] - 1) if num[d] > 1 else 99999999999
        steps.append([int(np.round(actual * i)) for i in range(num[d])])
    return steps


def compute_gaussian(tile, sigma_scale=1. / 8, value_scaling_factor=10, dtype=torch.float16):
    from scipy.ndimage import gaussian_filter
    tmp = np.zeros(tile)
    tmp[tuple(i // 2 for i in tile)] = 1
    g = gaussian_filter(tmp, [i * sigma_scale for i in tile], 0, mode="constant", cval=0)
    g = torch.from_numpy(g).type(dtype)
    g = g / torch.max(g) * value_scaling_factor
    g = g.type(dtype)
    g[g == 0] = torch.min(g[g != 0])
    return g


def pad_nd(image, patch):
    """acvl_utils pad_nd_image(image, patch, 'constant', {'value': 0}, True): only where smaller."""
    shape = image.shape[1:]
    new = [max(s, p) for s, p in zip(shape, patch)]
    below = [(n - s) // 2 for n, s in zip(new, shape)]
    pad = [(0, 0)] + [(b, n - s - b) for b, n, s in zip(below, new, shape)]
    out = np.pad(image, pad, "constant", constant_values=0)
    revert = tuple(slice(b, b + s) for b, s in zip(below, shape))
    return out, revert


@torch.inference_mode()
def sliding_window(net, data, patch, step, num_classes):
    """predict_sliding_window_return_logits on the CPU, no mirroring: float16 accumulation, Gaussian x10."""
    padded, revert = pad_nd(data, patch)
    x = torch.from_numpy(padded)
    steps = compute_steps(padded.shape[1:], patch, step)
    logits = torch.zeros((num_classes, *padded.shape[1:]), dtype=torch.half)
    n_pred = torch.zeros(padded.shape[1:], dtype=torch.half)
    g = compute_gaussian(tuple(patch))
    for sx in steps[0]:
        for sy in steps[1]:
            for sz in steps[2]:
                sl = (slice(None), slice(sx, sx + patch[0]), slice(sy, sy + patch[1]), slice(sz, sz + patch[2]))
                pred = net(x[sl][None])[0]
                pred *= g
                logits[sl] += pred
                n_pred[sl[1:]] += g
    logits /= n_pred
    assert not torch.any(torch.isinf(logits))
    return logits[(slice(None), *revert)], len(steps[0]) * len(steps[1]) * len(steps[2])


def ct_normalize(img, props):
    img = img.astype(np.float32, copy=False)
    np.clip(img, props["percentile_00_5"], props["percentile_99_5"], out=img)
    img -= props["mean"]
    img /= max(props["std"], 1e-8)
    return img


# ---- TotalSegmentator around nnU-Net (HEAD) ----

def change_spacing(data, old_spacing, new_spacing, order, dtype, target_shape=None):
    """TotalSegmentator resampling.change_spacing on an array: scipy zoom with mode nearest, then astype."""
    from scipy.ndimage import zoom
    if target_shape is not None:
        z = np.array(target_shape) / np.array(data.shape)
    else:
        z = np.array(old_spacing) / np.array(new_spacing)
    return zoom(data, z, order=order, mode="nearest").astype(dtype)


def ts_fast(net, plans, nib_img, step=0.8):
    """TotalSegmentator --fast on a nibabel image (float64 data, RAS canonical, spacing 3 mm given), the
    network replaced by net. Returns the label map on the input grid and the number of tiles."""
    import nibabel as nib
    c = plans["configurations"]["3d_fullres"]
    img = nib.Nifti1Image(nib_img.get_fdata(), nib_img.affine)
    canon = nib.as_closest_canonical(img)
    data = canon.get_fdata()
    sp = np.array(canon.header.get_zooms())
    target = np.array(c["spacing"][::-1])  # the plans are in (z, y, x); TS resamples (x, y, z)
    if np.array_equal(sp, target):
        res = data  # TS HEAD returns the image untouched when the spacing already matches
    else:
        res = change_spacing(data, sp, target, 1, np.int32)
    res = res.astype(np.float32)
    arr = res.transpose(2, 1, 0)[None]  # NibabelIO: (x,y,z) -> (c,z,y,x)
    nz = np.argwhere(arr[0] != 0)
    lo, hi = nz.min(0), nz.max(0) + 1
    crop = arr[:, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    norm = ct_normalize(crop.copy(), plans["foreground_intensity_properties_per_channel"]["0"])
    logits, tiles = sliding_window(net, norm, c["patch_size"], step, num_classes(net))
    seg_crop = logits.argmax(0).numpy().astype(np.uint8)
    seg = np.zeros(arr.shape[1:], np.uint8)
    seg[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = seg_crop
    seg = seg.transpose(2, 1, 0)
    if seg.shape != data.shape:
        seg = change_spacing(seg, None, None, 0, np.uint8, target_shape=data.shape)
    out = nib.Nifti1Image(seg, canon.affine)
    back = out.as_reoriented(nib.orientations.ornt_transform(
        nib.orientations.io_orientation(canon.affine), nib.orientations.io_orientation(img.affine)))
    return np.asarray(back.dataobj), tiles


def num_classes(net):
    return net.decoder.seg_layers[-1].out_channels


# ---- the tiny model and its references ----

TINY_INTENSITY = {"max": 3071.0, "mean": 40.0, "median": 35.0, "min": -1024.0, "percentile_00_5": -950.0,
                  "percentile_99_5": 1200.0, "std": 250.0}


def tiny(outdir):
    import nibabel as nib
    torch.manual_seed(17)
    np.random.seed(17)
    patch = [8, 12, 16]
    plans = plans_json("Dataset999_Tiny", patch, [[1, 3, 3], [3, 3, 3], [3, 3, 3]], [[1, 1, 1], [1, 2, 2], [2, 2, 2]],
                       4, 10, [2, 2, 2], [2, 2], [3.0, 3.0, 3.0], TINY_INTENSITY)
    dataset = {"channel_names": {"0": "CT"},
               "labels": {"background": 0, "spleen": 1, "kidney_right": 2, "kidney_left": 3, "gallbladder": 4,
                          "liver": 5},
               "numTraining": 1, "file_ending": ".nii.gz", "name": "Tiny", "licence": "Apache 2.0 (test model)"}
    net = build(plans, dataset).eval()
    folder = os.path.join(outdir, "tiny", "Dataset999_Tiny", "nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres")
    save_model(folder, net, plans, dataset)
    with open(os.path.join(outdir, "tiny", "plans_new_schema.json"), "w") as f:
        json.dump(new_schema(plans), f, indent=4)

    ref = {}
    # every layer's input and output in one forward pass (LeakyReLU is in place: copy at hook time)
    names = {m: n for n, m in net.named_modules()}

    def pre(m, inp):
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d, nn.InstanceNorm3d, nn.LeakyReLU)):
            ref["in:" + names[m]] = inp[0].detach().clone()[0].numpy()

    def hook(m, inp, out):
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d, nn.InstanceNorm3d, nn.LeakyReLU)):
            ref["out:" + names[m]] = out.detach().clone()[0].numpy()

    hs = [m.register_forward_hook(hook) for m in net.modules()] + [m.register_forward_pre_hook(pre) for m in net.modules()]
    x = torch.randn(1, 1, *patch)
    with torch.inference_mode():
        y = net(x)
    for h in hs:
        h.remove()
    ref["net:input"] = x[0].numpy()
    ref["net:logits"] = y[0].numpy()

    # Gaussian and sliding window, with padding (first axis smaller than the patch) and several tiles
    ref["gaussian"] = compute_gaussian(tuple(patch)).numpy().view(np.uint16)
    vol = np.random.randn(1, 6, 29, 37).astype(np.float32)
    ref["sw:input"] = vol
    for step in (0.5, 0.8):
        lg, tiles = sliding_window(net, vol, patch, step, 6)
        ref["sw:logits:%g" % step] = lg.numpy().view(np.uint16)
        ref["sw:tiles:%g" % step] = np.array([tiles])

    # CT normalisation and TotalSegmentator's resampling on the shared CT
    ctimg = nib.load(os.path.join(REPO, "testdata", "totalsegmentator-example", "ct_3mm.nii.gz"))
    ct = ctimg.get_fdata()
    ref["norm:out"] = ct_normalize(ct[:20, :20, :10].astype(np.int32).astype(np.float32), TINY_INTENSITY)
    sub = ct[20:60, 30:64, 5:25]
    ref["zoom:in"] = sub.astype(np.int16)
    up = change_spacing(sub, [3.0, 3.0, 3.0], [2.2, 1.7, 3.5], 1, np.int32)
    ref["zoom:order1"] = up.astype(np.int32)
    lab = (np.random.rand(*up.shape) * 5).astype(np.uint8)
    ref["zoom:labels"] = lab
    ref["zoom:order0"] = change_spacing(lab, None, None, 0, np.uint8, target_shape=sub.shape)

    # the whole --fast pipeline on the shared CT, and on an LPS copy of it at another spacing
    seg, tiles = ts_fast(net, plans, ctimg)
    ref["ts:seg"] = seg.astype(np.uint8)
    ref["ts:tiles"] = np.array([tiles])
    aff = ctimg.affine.copy()
    aff[:, 0] *= -1.0 * 2.5 / 3
    aff[:, 1] *= -1.0 * 3.5 / 3
    small = ct[10:70, 20:80, 4:24]
    ref["ts2:in"] = small.astype(np.int16)
    ref["ts2:affine"] = aff
    seg2, tiles2 = ts_fast(net, plans, nib.Nifti1Image(small.astype(np.int16), aff))
    ref["ts2:seg"] = seg2.astype(np.uint8)
    ref["ts2:tiles"] = np.array([tiles2])

    out = {k: (np.ascontiguousarray(v.astype(np.float32)) if v.dtype == np.float64 and not k.endswith("affine") else np.ascontiguousarray(v)) for k, v in ref.items()}
    np.savez_compressed(os.path.join(outdir, "tiny", "ref.npz"), **out)
    print("tiny: %d arrays, %d bytes" % (len(out), os.path.getsize(os.path.join(outdir, "tiny", "ref.npz"))))


# ---- the --fast-shaped model, for the benchmark ----

FAST_INTENSITY = {"max": 3071.0, "mean": 100.0, "median": 60.0, "min": -1024.0, "percentile_00_5": -1000.0,
                  "percentile_99_5": 1500.0, "std": 300.0}  # invented: the real values are in the release's plans.json


def fast(outdir, threads, repeats):
    torch.manual_seed(297)
    patch = [112, 112, 128]
    k = [[3, 3, 3]] * 5
    s = [[1, 1, 1]] + [[2, 2, 2]] * 4
    plans = plans_json("Dataset297_TotalSegmentator_total_3mm_1559subj", patch, k, s, 32, 320, [2] * 5, [2] * 4,
                       [3.0, 3.0, 3.0], FAST_INTENSITY)
    with open(os.path.join(REPO, "testdata", "totalsegmentator-v2-classes.tsv")) as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    labels = {"background": 0}
    for r in rows:
        if r[0].isdigit():
            labels[r[1]] = int(r[0])
    dataset = {"channel_names": {"0": "CT"}, "labels": labels, "numTraining": 1559, "file_ending": ".nii.gz",
               "name": "TotalSegmentator random-weight stand-in", "licence": "Apache 2.0 (random weights)"}
    net = build(plans, dataset).eval()
    folder = os.path.join(outdir, "Dataset297_TotalSegmentator_total_3mm_1559subj",
                          "nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres")
    save_model(folder, net, plans, dataset)
    x = torch.randn(1, 1, *patch)
    runs = []
    with torch.inference_mode():
        for th in threads:
            torch.set_num_threads(th)
            times, cpu = [], []
            for _ in range(repeats):
                t, c = time.perf_counter(), time.process_time()
                y = net(x)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            runs.append({"threads": th, "seconds": times, "cpu_seconds": cpu})
            print("fast: forward %s s (threads %d)" % (["%.2f" % t for t in times], th), flush=True)
    x[0].numpy().tofile(os.path.join(outdir, "input.f32"))
    y[0].numpy().tofile(os.path.join(outdir, "logits.f32"))
    import resource
    with open(os.path.join(outdir, "torch.json"), "w") as f:
        json.dump({"runs": runs, "torch": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
                   "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                   "loadavg": os.getloadavg(), "patch": patch, "classes": len(labels)}, f)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("tiny", "fast"):
        sys.exit(__doc__)
    if sys.argv[1] == "tiny":
        tiny(sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "internal", "nnunet", "testdata"))
    else:
        args = sys.argv[2:]
        threads = [int(t) for t in args[args.index("--threads") + 1].split(",")] if "--threads" in args else [2]
        repeats = int(args[args.index("--repeats") + 1]) if "--repeats" in args else 2
        fast(args[0], threads, repeats)

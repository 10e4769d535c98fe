#!/usr/bin/python3
"""Rebuild the held-out case in testdata/ from TotalSegmentator's own files.

usage: heldout.py EXAMPLE_CT EXAMPLE_SEG OUTDIR

EXAMPLE_CT is TotalSegmentator's tests/reference_files/example_ct.nii.gz
(122x101x112, 3 mm, int32) and EXAMPLE_SEG its
tests/reference_files/example_seg_fast_force_split.nii.gz (the v2 `total`
--fast --force_split map of that CT), both at upstream commit
0e65a448d557382b1e925276212b3bec7f5aff83 (git blobs 619b47b1... and
b0797417...). The native engine was tuned on ct_3mm.nii.gz, which is
slices 82..111 of EXAMPLE_CT (the script checks this when given
--tuning ct_3mm.nii.gz); slices 0..81 (abdomen and pelvis) were never
seen, so the script keeps those: it writes OUTDIR/ct_3mm_heldout.nii.gz
(int16, values unchanged) and OUTDIR/ct_3mm_heldout_seg.nii.gz on the same
grid, gzip level 9 without a timestamp, so the output is byte-stable.
numpy and nibabel only.
"""

import argparse
import gzip
import os

import nibabel as nib
import numpy as np

KEEP = slice(0, 82)  # slices 82..111 are ct_3mm.nii.gz, the tuning slab


def write(img, path):
    raw = img.to_bytes()
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as z:
        z.write(raw)


def crop(img, dtype):
    data = np.asarray(img.dataobj)[:, :, KEEP]
    if data.min() < np.iinfo(dtype).min or data.max() > np.iinfo(dtype).max:
        raise SystemExit(f"heldout.py: values {data.min()}..{data.max()} do not fit {np.dtype(dtype).name}")
    hdr = img.header.copy()
    hdr.set_data_dtype(dtype)
    out = nib.Nifti1Image(data.astype(dtype), img.affine, hdr)
    # Slices start at index 0, so the affine (origin included) is unchanged.
    out.set_qform(img.get_qform(), int(img.header["qform_code"]))
    out.set_sform(img.get_sform(), int(img.header["sform_code"]))
    return out, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ct")
    ap.add_argument("seg")
    ap.add_argument("outdir")
    ap.add_argument("--tuning", help="ct_3mm.nii.gz: check that it is the slab this script leaves out")
    args = ap.parse_args()
    ct, seg = nib.load(args.ct), nib.load(args.seg)
    if ct.shape != (122, 101, 112) or seg.shape != ct.shape or not np.allclose(ct.affine, seg.affine, atol=1e-4):
        raise SystemExit(f"heldout.py: expected TotalSegmentator's example_ct and its map, 122x101x112 on one grid; "
                         f"got {ct.shape} and {seg.shape}")
    if args.tuning:
        tun = nib.load(args.tuning)
        full = np.asarray(ct.dataobj)
        if not np.array_equal(np.asarray(tun.dataobj).astype(np.int64), full[:, :, 82:].astype(np.int64)):
            raise SystemExit("heldout.py: the tuning CT is not slices 82..111 of this CT")
    out_ct, _ = crop(ct, np.int16)
    out_seg, _ = crop(seg, np.uint8)
    os.makedirs(args.outdir, exist_ok=True)
    write(out_ct, os.path.join(args.outdir, "ct_3mm_heldout.nii.gz"))
    write(out_seg, os.path.join(args.outdir, "ct_3mm_heldout_seg.nii.gz"))


if __name__ == "__main__":
    main()

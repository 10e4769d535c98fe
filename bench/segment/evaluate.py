#!/usr/bin/python3
"""Dice of a segmentation engine against reference masks, for any CT.

usage: evaluate.py CT REF_LABELS MAPPING.json [--iris BIN] [--engine native]
                   [--ours LABELS.nii.gz] [--name NAME] [--json]

CT is anything `iris segment` reads (NIfTI, DICOM folder or .zip). Unless
--ours gives a label map already made, the script runs
`BIN segment CT -o TMP/labels.nii.gz --engine ENGINE` (BIN default bin/iris).
REF_LABELS is the reference label map (NIfTI) on the CT's voxel grid, in
any axis order or direction: both maps are brought to the closest canonical
(RAS) orientation by nibabel and must then share shape and affine (within
1e-3 mm), else the script stops; it never resamples.
MAPPING.json names, per class, our label values ("ours") and the
reference's ("ref": values, or names looked up in "refTable", a TSV of
value<TAB>name..., where shell patterns such as "rib_*" are allowed); see
totalsegmentator.json.

Prints one Markdown row per class: Dice = 2|A∩B| / (|A| + |B|), our and the
reference's volume in mL; "n/a" where the reference has no voxel of the
class (then our volume there is what we invented). numpy and nibabel only.
"""

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np


def canonical(path):
    img = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(img.dataobj)
    data = data.reshape(data.shape[:3])
    if not np.issubdtype(data.dtype, np.integer):
        data = np.rint(data).astype(np.int64)
    return data, img.affine


def resolve(refs, table):
    out = set()
    for r in refs:
        if isinstance(r, int):
            out.add(r)
            continue
        hits = [v for v, n in table.items() if fnmatch.fnmatchcase(n, r)]
        if not hits:
            raise ValueError(f"reference class {r!r} matches no name in the table")
        out.update(hits)
    return sorted(out)


def read_table(path):
    table = {}
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2 and cols[0].strip().isdigit():
                table[int(cols[0])] = cols[1].strip()
    return table


def dice_table(ours_path, ref_path, mapping, root):
    ours, oa = canonical(ours_path)
    ref, ra = canonical(ref_path)
    if ours.shape != ref.shape or not np.allclose(oa, ra, atol=1e-3):
        raise SystemExit(f"evaluate.py: {ref_path} is not on the CT's grid (shape {ref.shape} vs {ours.shape}, "
                         f"affines differ by {np.abs(oa - ra).max():.4g}); resample it first")
    table = {}
    if mapping.get("refTable"):
        table = read_table(os.path.join(root, mapping["refTable"]))
    ml = abs(np.linalg.det(oa[:3, :3])) / 1000.0
    rows = []
    for name, c in mapping["classes"].items():
        a = np.isin(ours, c["ours"])
        b = np.isin(ref, resolve(c["ref"], table))
        na, nb = int(a.sum()), int(b.sum())
        inter = int((a & b).sum())
        rows.append({"class": name, "dice": (2.0 * inter / (na + nb)) if nb else None,
                     "oursMl": na * ml, "refMl": nb * ml})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ct")
    ap.add_argument("ref")
    ap.add_argument("mapping")
    ap.add_argument("--iris", default="bin/iris")
    ap.add_argument("--engine", default="native")
    ap.add_argument("--ours", help="our label map, already made (skips iris segment)")
    ap.add_argument("--name", help="case name for the table (default: the CT's file name)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(args.mapping) as f:
        mapping = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        ours = args.ours
        if not ours:
            ours = os.path.join(tmp, "labels.nii.gz")
            r = subprocess.run([args.iris, "segment", args.ct, "-o", ours, "--engine", args.engine],
                               capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(f"evaluate.py: iris segment failed ({r.returncode}):\n{r.stderr}")
        rows = dice_table(ours, args.ref, mapping, root)
    name = args.name or os.path.basename(args.ct.rstrip("/"))
    if args.json:
        json.dump({"case": name, "classes": rows}, sys.stdout, indent=1)
        print()
        return
    for r in rows:
        d = "n/a" if r["dice"] is None else f"{r['dice']:.3f}"
        print(f"| {name} | {r['class']} | {d} | {r['oursMl']:.1f} | {r['refMl']:.1f} |")


if __name__ == "__main__":
    main()

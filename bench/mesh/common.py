"""Shared plumbing for the reference meshing stacks (not the evaluator).

Both reference scripts read the label map, find every label's bounding box
and write the same small manifest, so that the only difference between them
is the meshing itself. Run with Debian's /usr/bin/python3 (python3-nibabel,
python3-scipy, python3-skimage, python3-open3d, python3-vtk9).
"""

import json
import os
import sys
import time

import nibabel as nib
import numpy as np
from scipy import ndimage

REDUCE = 0.1  # keep 10% of each label's extracted triangles
MIN_TRIANGLES = 4  # a tetrahedron; tiny labels must not decimate to nothing


def target_triangles(extracted):
    """The triangle budget for a label: 10% of what was extracted, at least 4."""
    return max(MIN_TRIANGLES, int(round(REDUCE * extracted)))


def parse_args(argv, name):
    if len(argv) < 3 or argv[1].startswith("-"):
        sys.exit(f"usage: {name} LABELS.nii.gz OUTDIR [options]")
    return argv[1], argv[2], argv[3:]


def load_labels(path):
    """Returns the label array (integer, i-j-k axes as nibabel gives them) and
    the voxel-to-RAS affine."""
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    if data.ndim != 3:
        data = data.reshape(data.shape[:3])
    if not np.issubdtype(data.dtype, np.integer):
        data = np.rint(data).astype(np.int32)
    return data, img.affine


def label_boxes(data):
    """Yields (label, (start_i, start_j, start_k), mask) for every label > 0
    present: the label's binary mask cropped to its bounding box and padded
    by one voxel of background on every side, as uint8, and the index of the
    mask's voxel (0,0,0) in the full volume (start - 1 because of the pad)."""
    if data.min() < 0:
        raise ValueError("negative label values")
    for i, slc in enumerate(ndimage.find_objects(data)):
        if slc is None:
            continue
        label = i + 1
        mask = np.pad((data[slc] == label).view(np.uint8), 1)
        start = tuple(s.start - 1 for s in slc)
        yield label, start, mask


def index_to_world(affine, start):
    """4×4 matrix from padded-crop voxel indices to RAS mm."""
    shift = np.eye(4)
    shift[:3, 3] = start
    return affine @ shift


class Timer:
    """Accumulates wall time per stage."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.stages = {}
        self._last = self.t0

    def lap(self, stage):
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + (now - self._last)
        self._last = now

    def total(self):
        return time.perf_counter() - self.t0


def write_manifest(outdir, stack, organs, timer, extra=None):
    """Writes OUTDIR/manifest.json (label, file, triangle counts per organ)
    and prints the timings as one JSON line on stdout."""
    summary = {
        "stack": stack,
        "organs": organs,
        "trianglesExtracted": sum(o["trianglesExtracted"] for o in organs),
        "triangles": sum(o["triangles"] for o in organs),
        "seconds": {k: round(v, 4) for k, v in timer.stages.items()},
        "totalSeconds": round(timer.total(), 4),
    }
    if extra:
        summary.update(extra)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(summary, f, indent=1)
    line = {k: v for k, v in summary.items() if k != "organs"}
    line["labels"] = len(organs)
    print(json.dumps(line))

#!/usr/bin/python3
"""Reference stack 1, the original design: scikit-image marching cubes +
Open3D quadric decimation.

usage: ref_skimage_open3d.py LABELS.nii.gz OUTDIR

Per label present: binary mask cropped to its bounding box and padded by one
voxel; skimage.measure.marching_cubes (Lewiner, level 0.5, library defaults)
in voxel indices; vertices mapped to RAS mm with the NIfTI affine (winding
flipped where the affine mirrors, so that normals point outwards); Open3D
simplify_quadric_decimation to 10% of the label's own extracted triangles
(at least 4); binary STL OUTDIR/stl/label_<N>.stl written by Open3D.
Writes OUTDIR/manifest.json and prints the timings as one JSON line.
No smoothing: the original design had none.
"""

import os
import sys

import numpy as np
import open3d as o3d
from skimage import measure

import common


def main():
    src, outdir, _ = common.parse_args(sys.argv, "ref_skimage_open3d.py")
    os.makedirs(os.path.join(outdir, "stl"), exist_ok=True)
    timer = common.Timer()
    data, affine = common.load_labels(src)
    # In index space skimage's faces are clockwise seen from outside a bright
    # object (measured: all meshes came out with negative volume); a
    # mirroring affine reverses that once more.
    flip = np.linalg.det(affine[:3, :3]) > 0
    timer.lap("load")
    organs = []
    for label, start, mask in common.label_boxes(data):
        timer.lap("crop")
        verts, faces, _, _ = measure.marching_cubes(mask.astype(np.float32), level=0.5)
        m = common.index_to_world(affine, start)
        verts = verts @ m[:3, :3].T + m[:3, 3]
        if flip:
            faces = faces[:, ::-1]
        timer.lap("extract")
        mesh = o3d.geometry.TriangleMesh(
            o3d.utility.Vector3dVector(verts.astype(np.float64)),
            o3d.utility.Vector3iVector(np.ascontiguousarray(faces, dtype=np.int32)),
        )
        target = common.target_triangles(len(faces))
        mesh = mesh.simplify_quadric_decimation(target_number_of_triangles=target)
        timer.lap("decimate")
        mesh.compute_triangle_normals()  # STL needs facet normals
        rel = os.path.join("stl", f"label_{label}.stl")
        if not o3d.io.write_triangle_mesh(os.path.join(outdir, rel), mesh, write_ascii=False):
            sys.exit(f"ref_skimage_open3d: could not write {rel}")
        timer.lap("write")
        organs.append({
            "label": label,
            "file": rel,
            "trianglesExtracted": int(len(faces)),
            "triangles": int(len(mesh.triangles)),
        })
    common.write_manifest(outdir, "skimage+open3d", organs, timer, {
        "versions": {"skimage": __import__("skimage").__version__, "open3d": o3d.__version__},
    })


if __name__ == "__main__":
    main()

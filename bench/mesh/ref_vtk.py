#!/usr/bin/python3
"""Reference stack 2, 3D Slicer's surface pipeline with quadric decimation:
vtkDiscreteFlyingEdges3D + vtkQuadricDecimation + vtkWindowedSincPolyDataFilter.

usage: ref_vtk.py LABELS.nii.gz OUTDIR [--order slicer|smooth-first] [--volume-preservation]

Follows Slicer's vtkBinaryLabelmapToClosedSurfaceConversionRule::CreateClosedSurface
(Libs/vtkSegmentationCore), per label present:
  1. binary mask cropped to its bounding box, padded by one voxel, in IJK space
     (spacing 1, origin 0);
  2. vtkDiscreteFlyingEdges3D, value 1, gradients and normals off;
  3. vtkWindowedSincPolyDataFilter as Slicer maps its default smoothing factor
     0.5: 20 iterations, pass band 10^(-4*0.5) = 0.01, boundary and feature-edge
     smoothing off, non-manifold smoothing on, normalized coordinates on;
  4. vtkQuadricDecimation with VTK's defaults (Slicer's optional decimation
     step uses vtkDecimatePro and is off by default) to 10% of the label's own
     extracted triangles, at least 4 (target reduction 1 - target/extracted);
  5. IJK → RAS mm with the NIfTI affine (vtkTransformPolyDataFilter);
  6. vtkPolyDataNormals, consistency on, splitting off (flipped where the
     affine mirrors, so that faces stay counter-clockwise seen from outside);
  7. binary STL OUTDIR/stl/label_<N>.stl (vtkSTLWriter).
Slicer, when its decimation is on, decimates before smoothing; --order=slicer
does that. It is not the default because 20 windowed-sinc iterations with pass
band 0.01 on a mesh already cut to 10% shrink small organs to almost nothing
(measured on ct_3mm_seg: the left lower lung lobe keeps 4% of its volume). Writes OUTDIR/manifest.json and prints the timings as one JSON line.
"""

import os
import sys

import numpy as np
from vtkmodules.util import numpy_support  # not `import vtk`: loading every module costs ~2.5 s
from vtkmodules.vtkCommonCore import VTK_UNSIGNED_CHAR, vtkVersion
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkQuadricDecimation, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D, vtkTransformPolyDataFilter
from vtkmodules.vtkIOGeometry import vtkSTLWriter

import common

SMOOTHING_FACTOR = 0.5  # Slicer's default
SMOOTHING_ITERATIONS = 20  # Slicer's fixed value


def image_from_mask(mask):
    img = vtkImageData()
    img.SetDimensions(*mask.shape)
    img.SetSpacing(1.0, 1.0, 1.0)
    img.SetOrigin(0.0, 0.0, 0.0)
    scalars = numpy_support.numpy_to_vtk(mask.ravel(order="F"), deep=True, array_type=VTK_UNSIGNED_CHAR)
    img.GetPointData().SetScalars(scalars)
    return img


def flying_edges(img):
    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(img)
    fe.ComputeGradientsOff()
    fe.ComputeNormalsOff()
    fe.SetValue(0, 1)
    fe.Update()
    return fe.GetOutput()


def decimate(poly, target, volume_preservation):
    n = poly.GetNumberOfPolys()
    if n <= target:
        return poly
    dec = vtkQuadricDecimation()
    dec.SetInputData(poly)
    dec.SetTargetReduction(1.0 - target / n)
    dec.SetVolumePreservation(volume_preservation)
    dec.Update()
    return dec.GetOutput()


def smooth(poly):
    sm = vtkWindowedSincPolyDataFilter()
    sm.SetInputData(poly)
    sm.SetNumberOfIterations(SMOOTHING_ITERATIONS)
    sm.SetPassBand(10.0 ** (-4.0 * SMOOTHING_FACTOR))
    sm.BoundarySmoothingOff()
    sm.FeatureEdgeSmoothingOff()
    sm.NonManifoldSmoothingOn()
    sm.NormalizeCoordinatesOn()
    sm.Update()
    return sm.GetOutput()


def to_world(poly, matrix, flip):
    m = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(matrix[r, c]))
    tr = vtkTransform()
    tr.SetMatrix(m)
    tf = vtkTransformPolyDataFilter()
    tf.SetInputData(poly)
    tf.SetTransform(tr)
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(tf.GetOutputPort())
    normals.ConsistencyOn()
    normals.SplittingOff()
    normals.SetFlipNormals(flip)
    normals.Update()
    return normals.GetOutput()


def main():
    src, outdir, opts = common.parse_args(sys.argv, "ref_vtk.py")
    order, vp = "smooth-first", False
    for o in opts:
        if o in ("--order=slicer", "--order=smooth-first"):
            order = o.split("=", 1)[1]
        elif o == "--volume-preservation":
            vp = True
        else:
            sys.exit(f"ref_vtk.py: unknown option {o!r}")
    os.makedirs(os.path.join(outdir, "stl"), exist_ok=True)
    timer = common.Timer()
    data, affine = common.load_labels(src)
    flip = bool(np.linalg.det(affine[:3, :3]) < 0)
    timer.lap("load")
    writer = vtkSTLWriter()
    writer.SetFileTypeToBinary()
    organs = []
    for label, start, mask in common.label_boxes(data):
        img = image_from_mask(mask)
        timer.lap("crop")
        poly = flying_edges(img)
        extracted = poly.GetNumberOfPolys()
        timer.lap("extract")
        target = common.target_triangles(extracted)
        if order == "slicer":
            poly = decimate(poly, target, vp)
            timer.lap("decimate")
            poly = smooth(poly)
            timer.lap("smooth")
        else:
            poly = smooth(poly)
            timer.lap("smooth")
            poly = decimate(poly, target, vp)
            timer.lap("decimate")
        poly = to_world(poly, common.index_to_world(affine, start), flip)
        timer.lap("transform+normals")
        rel = os.path.join("stl", f"label_{label}.stl")
        writer.SetFileName(os.path.join(outdir, rel))
        writer.SetInputData(poly)
        if writer.Write() != 1:
            sys.exit(f"ref_vtk: could not write {rel}")
        timer.lap("write")
        organs.append({
            "label": label,
            "file": rel,
            "trianglesExtracted": int(extracted),
            "triangles": int(poly.GetNumberOfPolys()),
        })
    common.write_manifest(outdir, "vtk", organs, timer, {
        "versions": {"vtk": vtkVersion.GetVTKVersion()},
        "options": {"order": order, "volumePreservation": vp},
    })


if __name__ == "__main__":
    main()

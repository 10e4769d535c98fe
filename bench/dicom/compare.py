"""compare.py OURS.nii REF.nii: exit 1 unless the voxels are equal and the
affines agree within 1e-4 mm (the check TestRealSeries makes on 20 slices)."""
import sys

import nibabel as nib
import numpy as np

a, b = nib.load(sys.argv[1]), nib.load(sys.argv[2])
va, vb = np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)
if va.shape != vb.shape:
    sys.exit(f"shape {va.shape} vs {vb.shape}")
diff = int(np.count_nonzero(va.astype(np.int64) != vb.astype(np.int64)))
aff = float(np.abs(a.affine - b.affine).max())
if diff or aff > 1e-4:
    sys.exit(f"{diff} voxels differ, affine max diff {aff:.3g}")
print(f"  equal to dcm2niix: {va.size} voxels, affine within {aff:.1g}")

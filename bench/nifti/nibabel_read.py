"""Time nibabel reading a .nii.gz to a usable array, for bench/nifti/run.sh.

    nibabel_read.py FILE [REPEATS]

Prints one line per repeat: the seconds nibabel took.

What is timed is `np.asanyarray(nib.load(path).dataobj)`: load the header,
decompress, and return the voxels as a numpy array with the file's scaling
applied. The benchmark file is int16 with scl_slope 1, scl_inter 0, so that
is an int16 array, the same thing Go's volume.ReadFile returns (Image.Data
is an []int16). get_fdata() would add a conversion to float64 (4x the
memory) that the Go side does not do, so it would flatter Go.
"""

import sys
import time

import nibabel as nib
import numpy as np


def main():
    path = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for _ in range(repeats):
        t0 = time.perf_counter()
        arr = np.asanyarray(nib.load(path).dataobj)
        dt = time.perf_counter() - t0
        if arr.dtype != np.int16 or arr.size < 50_000_000:
            sys.exit(f'unexpected array {arr.dtype} {arr.shape}')
        print(f'{dt:.4f}')


if __name__ == '__main__':
    main()

"""Make the DICOM benchmark's large series from the shared 20-slice one.

usage: make_series.py SRC_DIR OUT_DIR N SYNTAX
  SYNTAX j2k     the source's JPEG 2000 codestreams, copied unchanged
         native  the same pixels decoded (pydicom + Pillow), explicit VR LE
         jpegll  native re-encoded by dcmtk's dcmcjpeg +el (JPEG lossless,
                 process 14, first-order prediction, SV1); the caller runs it

Slice k of the N takes the pixels and header of source slice k mod 20 (the
source sorted by position) and the position of source slice 0 plus k times
the source's slice step, so the series is a valid N-slice volume of tiled
anatomy. UIDs are derived from fixed roots and k, so two runs write the same
bytes: the series is deterministic and is generated at bench time, never
committed (300 slices are ~45 MB compressed, 150 MB native).
"""
import os
import sys

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian


def main():
    src, out, n, syntax = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if syntax not in ("j2k", "native"):
        sys.exit(f"make_series.py: unknown syntax {syntax!r} (j2k|native)")
    ds = [pydicom.dcmread(os.path.join(src, f)) for f in sorted(os.listdir(src))]
    ds.sort(key=lambda d: -float(d.ImagePositionPatient[2]))
    p0 = np.array([float(v) for v in ds[0].ImagePositionPatient])
    step = np.array([float(v) for v in ds[1].ImagePositionPatient]) - p0
    if syntax == "native":
        for d in ds:
            arr = d.pixel_array
            d.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
            d.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            d["PixelData"].VR = "OW"
            d["PixelData"].is_undefined_length = False
    os.makedirs(out, exist_ok=True)
    series = "2.25.314159265358979323846264338327950288"
    for k in range(n):
        d = ds[k % len(ds)]
        p = p0 + k * step
        d.ImagePositionPatient = [f"{v:.6g}" for v in p]
        if "SliceLocation" in d:
            d.SliceLocation = f"{p[2]:.6g}"
        d.InstanceNumber = k + 1
        d.SeriesInstanceUID = series
        d.SOPInstanceUID = f"{series}.{k + 1}"
        d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
        d.save_as(os.path.join(out, f"IM{k + 1:04d}.dcm"), write_like_original=False)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Convert a 3-D NRRD volume (a CT or a label map) to NIfTI for evaluate.py.

usage: nrrd2nii.py IN.nrrd OUT.nii.gz

`iris segment` and evaluate.py read NIfTI and DICOM, not NRRD; reference
label maps often come as NRRD (3D Slicer, the Chest Imaging Platform).
This handles the common subset, attached header only: integer or float
samples, raw or gzip encoding, little or big endian, 3 dimensions,
`space` left-posterior-superior or right-anterior-superior, `space
directions` and `space origin` (the centre of the first sample, as in
NIfTI). Values are copied unchanged; the NRRD's LPS world becomes NIfTI's
RAS by negating the first two rows of the affine. Anything else (detached
data files, 4-D, other spaces or encodings) stops with a message naming
it. Checked on the Chest Imaging Platform's ct-64.nrrd: the output equals
CIP's DICOM export of the same volume (ct-64Dicom/, read by pydicom) voxel
for voxel, with the same origin and spacing. numpy and nibabel only.
"""

import gzip
import re
import sys

import nibabel as nib
import numpy as np

TYPES = {
    "signed char": "i1", "int8": "i1", "int8_t": "i1",
    "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "uint8_t": "u1",
    "short": "i2", "short int": "i2", "signed short": "i2", "signed short int": "i2", "int16": "i2", "int16_t": "i2",
    "ushort": "u2", "unsigned short": "u2", "unsigned short int": "u2", "uint16": "u2", "uint16_t": "u2",
    "int": "i4", "signed int": "i4", "int32": "i4", "int32_t": "i4",
    "uint": "u4", "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4",
    "float": "f4", "double": "f8",
}


def fail(msg):
    raise SystemExit(f"nrrd2nii.py: {msg}")


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(b"NRRD000"):
        fail(f"{path} is not an NRRD file (no NRRD magic)")
    end = raw.find(b"\n\n")
    if end < 0:
        fail(f"{path}: no blank line ends the header")
    fields = {}
    for line in raw[:end].decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip()] = value.lstrip("=").strip()
    if "data file" in fields or "datafile" in fields:
        fail(f"{path}: detached data files are not supported")
    dim = int(fields.get("dimension", "0"))
    if dim != 3:
        fail(f"{path}: dimension {dim}, only 3-D volumes are supported")
    sizes = [int(s) for s in fields["sizes"].split()]
    typ = TYPES.get(fields.get("type", "").lower())
    if typ is None:
        fail(f"{path}: sample type {fields.get('type')!r} is not supported")
    order = ">" if fields.get("endian", "little") == "big" else "<"
    data = raw[end + 2:]
    enc = fields.get("encoding", "raw")
    if enc in ("gzip", "gz"):
        data = gzip.decompress(data)
    elif enc != "raw":
        fail(f"{path}: encoding {enc!r} is not supported")
    n = sizes[0] * sizes[1] * sizes[2]
    dtype = np.dtype(order + typ)
    if len(data) < n * dtype.itemsize:
        fail(f"{path}: {len(data)} data bytes, {n * dtype.itemsize} needed for sizes {sizes}")
    # NRRD lists the fastest axis first: reshape in C order reversed, then transpose to (i, j, k).
    arr = np.frombuffer(data[:n * dtype.itemsize], dtype=dtype).astype(dtype.newbyteorder("="))
    arr = arr.reshape(sizes[::-1]).transpose(2, 1, 0)
    space = fields.get("space", "").lower()
    if space in ("left-posterior-superior", "lps"):
        flip = np.diag([-1.0, -1.0, 1.0])
    elif space in ("right-anterior-superior", "ras"):
        flip = np.eye(3)
    else:
        fail(f"{path}: space {space or '(none)'!r} is not supported (LPS or RAS)")
    dirs = re.findall(r"\(([^)]*)\)", fields.get("space directions", ""))
    if len(dirs) != 3:
        fail(f"{path}: 'space directions' must give 3 vectors")
    origin = re.findall(r"\(([^)]*)\)", fields.get("space origin", ""))
    if len(origin) != 1:
        fail(f"{path}: no 'space origin'")
    affine = np.eye(4)
    affine[:3, :3] = flip @ np.array([[float(x) for x in d.split(",")] for d in dirs]).T
    affine[:3, 3] = flip @ np.array([float(x) for x in origin[0].split(",")])
    return arr, affine


def main():
    if len(sys.argv) != 3:
        fail("usage: nrrd2nii.py IN.nrrd OUT.nii.gz")
    arr, affine = read(sys.argv[1])
    img = nib.Nifti1Image(np.ascontiguousarray(arr), affine)
    img.set_qform(affine, 1)
    img.set_sform(affine, 1)
    nib.save(img, sys.argv[2])


if __name__ == "__main__":
    main()

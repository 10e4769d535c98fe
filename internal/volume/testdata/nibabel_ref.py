"""Reference files and reference readings for the volume package tests.

    nibabel_ref.py make DIR          write test NIfTI files with nibabel, print their names
    nibabel_ref.py axcodes           read a JSON list of 4x4 affines on stdin, print aff2axcodes of each
    nibabel_ref.py dump OUT FILE...  for each FILE write OUT/<i>.json (what nibabel reads)
                                     and OUT/<i>.raw (the unscaled voxels, little-endian, Fortran order)

Run with Debian's /usr/bin/python3 (python3-nibabel, python3-numpy).
"""

import gzip
import json
import os
import struct
import sys

import nibabel as nib
import numpy as np


def rot_z(deg):
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def affine(rot, zooms, offset):
    a = np.eye(4)
    a[:3, :3] = rot @ np.diag(zooms)
    a[:3, 3] = offset
    return a


def ct_like(rng, shape, dtype=np.int16):
    return rng.integers(-1024, 2000, size=shape).astype(dtype)


def save(img, path):
    nib.save(img, path)
    return os.path.basename(path)


def patch(src, dst, edits):
    """Rewrite header bytes of a file nibabel wrote: edits is [(offset, fmt, value)]."""
    raw = open(src, 'rb').read()
    if raw[:2] == b'\x1f\x8b':
        raw = gzip.decompress(raw)
    b = bytearray(raw)
    for off, fmt, val in edits:
        struct.pack_into(fmt, b, off, val)
    if dst.endswith('.gz'):
        with gzip.open(dst, 'wb') as f:
            f.write(bytes(b))
    else:
        open(dst, 'wb').write(bytes(b))
    return os.path.basename(dst)


def make(d):
    rng = np.random.default_rng(20261127)
    names = []
    ras = affine(np.eye(3), (0.8, 0.9, 2.5), (-100.5, 20.25, 30))

    # Every integer and real datatype, little- and big-endian.
    for dt in ['u1', 'i1', 'i2', 'u2', 'i4', 'u4', 'i8', 'u8', 'f4', 'f8']:
        for order in '<>':
            if dt.startswith('f'):
                a = (rng.standard_normal((7, 6, 5)) * 1000).astype(order + dt)
            else:
                info = np.iinfo(dt)
                a = rng.integers(info.min, info.max, size=(7, 6, 5), dtype=dt, endpoint=True).astype(order + dt)
            hdr = nib.Nifti1Header(endianness=order)
            img = nib.Nifti1Image(a, ras, header=hdr)
            img.set_data_dtype(np.dtype(order + dt))
            name = f'dtype_{dt}_{"be" if order == ">" else "le"}.nii.gz'
            names.append(save(img, os.path.join(d, name)))

    # NIfTI-2, little- and big-endian, qform and sform.
    a = ct_like(rng, (17, 13, 11))
    aff = affine(rot_z(10), (0.7, 0.7, 3), (12, -40, 90.5))
    names.append(save(nib.Nifti2Image(a, aff), os.path.join(d, 'nifti2.nii.gz')))
    img = nib.Nifti2Image(a.astype('>i2'), aff, header=nib.Nifti2Header(endianness='>'))
    names.append(save(img, os.path.join(d, 'nifti2_be.nii')))

    # Big-endian float32, uncompressed.
    f = rng.standard_normal((9, 8, 7)).astype('>f4') * 100
    img = nib.Nifti1Image(f, ras, header=nib.Nifti1Header(endianness='>'))
    names.append(save(img, os.path.join(d, 'float32_be.nii')))

    # qform only, with a rotation about an oblique axis and qfac -1.
    img = nib.Nifti1Image(ct_like(rng, (10, 12, 8)), None)
    r = rot_z(15) @ np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]])
    img.set_qform(affine(r @ np.diag([1, 1, -1]), (0.8, 0.9, 2.5), (-80, 60, -20)), code=1)
    img.set_sform(None, code=0)
    names.append(save(img, os.path.join(d, 'qform_only.nii.gz')))

    # Scaled int16: nibabel recomputes scaling on save, so patch it in.
    img = nib.Nifti1Image(ct_like(rng, (9, 7, 6)), ras)
    img.set_data_dtype(np.int16)
    src = os.path.join(d, 'unscaled.nii')
    nib.save(img, src)
    names.append(patch(src, os.path.join(d, 'scaled_int16.nii.gz'), [(112, '<f', 0.5), (116, '<f', -1024)]))
    names.append(patch(src, os.path.join(d, 'scaled_inter_only.nii'), [(112, '<f', 1), (116, '<f', 7.25)]))
    names.append(patch(src, os.path.join(d, 'slope_zero.nii'), [(112, '<f', 0), (116, '<f', 100)]))
    os.remove(src)

    # No qform or sform: nibabel's base affine from pixdim, including the
    # values its load-time checks fix (pixdim[0] -0.5 -> 1, negative and zero
    # spacings), and a 2D image.
    img = nib.Nifti1Image(ct_like(rng, (6, 5, 4)), ras)
    src = os.path.join(d, 'tmp.nii')
    nib.save(img, src)
    names.append(patch(src, os.path.join(d, 'no_xform.nii'), [(252, '<h', 0), (254, '<h', 0)]))
    names.append(patch(src, os.path.join(d, 'no_xform_odd_pixdim.nii'),
                       [(252, '<h', 0), (254, '<h', 0), (76, '<f', -0.5), (80, '<f', -1.5), (84, '<f', 0)]))
    names.append(patch(src, os.path.join(d, 'qform_odd_qfac.nii'),
                       [(254, '<h', 0), (252, '<h', 1), (76, '<f', -0.5), (80, '<f', -2)]))
    names.append(patch(src, os.path.join(d, 'bad_xform_codes.nii'), [(252, '<h', 9), (254, '<h', -3)]))
    os.remove(src)
    img = nib.Nifti1Image(ct_like(rng, (6, 5)), ras)
    src = os.path.join(d, 'tmp.nii')
    nib.save(img, src)
    names.append(patch(src, os.path.join(d, 'no_xform_2d.nii'), [(252, '<h', 0), (254, '<h', 0)]))
    os.remove(src)

    # Labels: uint16 with values over 255, and a 4D image with dim[4] = 1.
    lab = rng.integers(0, 700, size=(11, 9, 7)).astype(np.uint16)
    img = nib.Nifti1Image(lab, affine(np.eye(3), (1.5, 1.5, 1.5), (0, 0, 0)))
    img.set_data_dtype(np.uint16)
    names.append(save(img, os.path.join(d, 'labels_uint16.nii.gz')))
    img = nib.Nifti1Image(ct_like(rng, (8, 7, 6, 1)), ras)
    names.append(save(img, os.path.join(d, 'dim4_1.nii.gz')))
    img = nib.Nifti1Image(ct_like(rng, (5, 4, 3, 2)), ras)
    names.append(save(img, os.path.join(d, 'four_d.nii.gz')))

    # Extensions whose lengths are not multiples of 16.
    img = nib.Nifti1Image(rng.integers(0, 5, size=(4, 4, 4)).astype(np.uint8), ras)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(0, b'<CaretExtension>x</CaretExtension>'))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b'a comment'))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(40, bytes(range(1, 33))))
    names.append(save(img, os.path.join(d, 'extensions.nii.gz')))
    img = nib.Nifti2Image(rng.integers(0, 5, size=(4, 4, 4)).astype(np.uint8), ras)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(0, b'nifti-2 extension'))
    names.append(save(img, os.path.join(d, 'extensions_nifti2.nii')))
    print('\n'.join(names))


def describe(img, path):
    hdr = img.header
    # On load nibabel moves the scaling from img.header into img.dataobj.
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    raw = img.dataobj.get_unscaled()
    scaled = img.get_fdata()
    flat = raw.ravel(order='F')
    idx = sorted({0, flat.size // 3, flat.size // 2, flat.size - 1})
    return raw, {
        'path': path,
        'version': 2 if isinstance(hdr, nib.Nifti2Header) else 1,
        'shape': list(img.shape),
        'dtype': str(raw.dtype.newbyteorder('=').name),
        'affine': img.affine.tolist(),
        'qform': hdr.get_qform().tolist() if int(hdr['qform_code']) else None,
        'sform': hdr.get_sform().tolist() if int(hdr['sform_code']) else None,
        'qform_code': int(hdr['qform_code']),
        'sform_code': int(hdr['sform_code']),
        'slope': slope,
        'inter': inter,
        'axcodes': ''.join(nib.aff2axcodes(img.affine)),
        'zooms': [float(z) for z in nib.affines.voxel_sizes(img.affine)],
        'extensions': [[int(e.get_code()), e._mangle(e._content).hex()] for e in hdr.extensions],
        'scaled_sum': float(scaled.sum(dtype=np.float64)),
        'samples': [[i, float(scaled.ravel(order='F')[i])] for i in idx],
        'intent_code': int(hdr['intent_code']),
        'xyzt_units': int(hdr['xyzt_units']),
        'descrip': hdr['descrip'].item().decode('latin-1'),
        'datatype': int(hdr['datatype']),
        'pixdim0': float(hdr['pixdim'][0]),
    }


def dump(out, files):
    for i, p in enumerate(files):
        img = nib.load(p)
        raw, info = describe(img, p)
        with open(os.path.join(out, f'{i}.raw'), 'wb') as f:
            f.write(raw.astype(raw.dtype.newbyteorder('<')).tobytes(order='F'))
        with open(os.path.join(out, f'{i}.json'), 'w') as f:
            json.dump(info, f)


def main():
    cmd = sys.argv[1]
    if cmd == 'make':
        make(sys.argv[2])
    elif cmd == 'axcodes':
        for a in json.load(sys.stdin):
            print(''.join(c or '?' for c in nib.aff2axcodes(np.array(a))))
    elif cmd == 'dump':
        dump(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f'unknown command {cmd}')


if __name__ == '__main__':
    main()

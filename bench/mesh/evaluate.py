#!/usr/bin/python3
"""One evaluator for every meshing stack's output, so that all stacks are
judged the same way.

usage: evaluate.py LABELS.nii.gz OUTDIR [--json]
       evaluate.py --selftest

OUTDIR holds one mesh per organ (binary or ASCII STL, or binary PLY) and a
manifest.json naming, per organ, its label value and either its file
("file", relative to OUTDIR) or its name (then stl/<name>.stl). Without a
manifest, stl/*.stl files whose names end in the label value are used.

Per organ:
  voxel volume   count of the label's voxels × |det(affine)| (nibabel)
  mesh volume    signed, by the divergence theorem (sum of the signed volumes
                 of the tetrahedra from the origin); negative = inside out
  watertight     after welding vertices with exactly equal coordinates (STL
                 has no shared vertices): no face with a repeated vertex,
                 every undirected edge in exactly two faces with opposite
                 orientation, and every vertex's faces form a single fan (no
                 pinched, non-manifold vertices)
  centroid       distance (mm) between the mesh's volume centroid and the
                 voxels' centroid in RAS: catches LPS/RAS or affine mistakes
  boundary       distance (mm) from each mesh vertex (after welding) to the
                 nearest face of the label's voxel boundary: the voxel faces,
                 as parallelograms in RAS mm through the affine, that
                 separate a voxel of the label from another label or from
                 outside the grid; p95 (nearest rank: the ceil(0.95 n)-th
                 smallest) and max per organ, and over all organs' vertices
                 pooled. Same definition as Go's mesh.BoundaryDistances
                 (the manifest's boundaryDistP95Mm / boundaryDistMaxMm). A
                 volume correction can make the volume exact; this says how
                 far the surface still lies from the voxels.
numpy and nibabel only.
"""

import glob
import json
import os
import re
import sys

import nibabel as nib
import numpy as np

MIN_VOXELS = 1000  # volume statistics only over organs at least this big


class LabelStats:
    """Per-label voxel count, volume (ml) and RAS centroid of a label map."""

    def __init__(self, path):
        img = nib.load(path)
        data = np.asarray(img.dataobj)
        data = data.reshape(data.shape[:3])
        if not np.issubdtype(data.dtype, np.integer):
            data = np.rint(data).astype(np.int64)
        if data.min() < 0:
            raise ValueError(f"{path}: negative label values")
        self.affine = img.affine
        self.voxel_ml = abs(np.linalg.det(self.affine[:3, :3])) / 1000.0
        nl = int(data.max()) + 1
        self.count = np.bincount(data.ravel(order="K"), minlength=nl).astype(np.int64)
        # Index centroids from per-plane histograms: no full index arrays.
        # Planes are views (np.take would copy the whole volume per plane).
        csum = np.zeros((3, nl))
        for axis in range(3):
            moved = np.moveaxis(data, axis, 0)
            for i in range(moved.shape[0]):
                csum[axis] += i * np.bincount(moved[i].ravel(order="K"), minlength=nl)
        with np.errstate(invalid="ignore", divide="ignore"):
            cidx = csum / self.count
        self.centroid = (self.affine[:3, :3] @ cidx).T + self.affine[:3, 3]
        self.labels = [int(v) for v in np.nonzero(self.count)[0] if v > 0]
        self.data = data

    def voxels(self, label):
        return int(self.count[label]) if 0 <= label < len(self.count) else 0


# ---------------------------------------------------------------- readers


def read_mesh(path):
    """Returns (positions float64 (n,3), faces int64 (m,3)). STL triangles
    come unwelded: three positions per face."""
    with open(path, "rb") as f:
        buf = f.read()
    if path.lower().endswith(".ply"):
        return read_ply(buf, path)
    return read_stl(buf, path)


def read_stl(buf, path):
    if len(buf) >= 84:
        n = int(np.frombuffer(buf, "<u4", 1, 80)[0])
        if len(buf) == 84 + 50 * n:
            rec = np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
            tri = np.frombuffer(buf, rec, n, 84)["v"].reshape(-1, 3)
            return tri, np.arange(3 * n, dtype=np.int64).reshape(-1, 3)
    if buf[:5].lower() == b"solid":
        vals = re.findall(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)", buf)
        if len(vals) % 3:
            raise ValueError(f"{path}: ASCII STL with {len(vals)} vertices, not a multiple of 3")
        # Round through float32 so that ASCII and binary weld alike.
        tri = np.array(vals, dtype=np.float64).astype(np.float32)
        return tri, np.arange(len(tri), dtype=np.int64).reshape(-1, 3)
    raise ValueError(f"{path}: neither binary STL (size {len(buf)}) nor ASCII STL")


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def read_ply(buf, path):
    end = buf.find(b"end_header\n")
    if not buf.startswith(b"ply") or end < 0:
        raise ValueError(f"{path}: not a PLY file")
    lines = buf[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise ValueError(f"{path}: only binary little-endian PLY is supported")
    elems = []
    for ln in lines:
        w = ln.split()
        if w and w[0] == "element":
            elems.append((w[1], int(w[2]), []))
        elif w and w[0] == "property":
            elems[-1][2].append(w[1:])
    off = end + len("end_header\n")
    pos = faces = None
    for name, n, props in elems:
        if all(p[0] != "list" for p in props):
            dt = np.dtype([(p[1], "<" + _PLY_TYPES[p[0]]) for p in props])
            arr = np.frombuffer(buf, dt, n, off)
            off += dt.itemsize * n
            if name == "vertex":
                pos = np.stack([arr["x"], arr["y"], arr["z"]], axis=1)
            continue
        if name != "face" or len(props) != 1:
            raise ValueError(f"{path}: unsupported PLY element {name!r}")
        _, ct, it, _ = props[0]
        dt = np.dtype([("c", "<" + _PLY_TYPES[ct]), ("i", "<" + _PLY_TYPES[it], 3)])
        arr = np.frombuffer(buf, dt, n, off)
        if n and not (arr["c"] == 3).all():
            raise ValueError(f"{path}: PLY faces are not all triangles")
        off += dt.itemsize * n
        faces = arr["i"].astype(np.int64)
    if pos is None or faces is None:
        raise ValueError(f"{path}: PLY without vertex or face element")
    return pos, faces


# ---------------------------------------------------------------- checks


def weld(pos, faces):
    """Merges vertices whose float32 coordinates are exactly equal."""
    p32 = np.ascontiguousarray(pos, dtype=np.float32) + np.float32(0)  # -0 → +0
    bits = p32.view(np.uint32)
    order = np.lexsort((bits[:, 2], bits[:, 1], bits[:, 0]))
    sb = bits[order]
    new = np.ones(len(sb), dtype=bool)
    new[1:] = (sb[1:] != sb[:-1]).any(axis=1)
    ids = np.cumsum(new) - 1
    remap = np.empty(len(sb), dtype=np.int64)
    remap[order] = ids
    return p32[order[new]].astype(np.float64), remap[faces]


def topology(nv, faces):
    """Counts the defects that make a triangle mesh not a closed 2-manifold."""
    out = {"degenerate_faces": 0, "boundary_edges": 0, "nonmanifold_edges": 0,
           "misoriented_edges": 0, "nonmanifold_vertices": 0}
    if len(faces) == 0:
        return out
    f = faces
    bad = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])
    out["degenerate_faces"] = int(bad.sum())
    a = f.ravel()  # half-edge h = 3t+k goes from corner k to corner k+1 of face t
    b = np.roll(f, -1, axis=1).ravel()
    n = np.int64(nv)
    und = np.minimum(a, b) * n + np.maximum(a, b)
    _, ucount = np.unique(und, return_counts=True)
    out["boundary_edges"] = int((ucount == 1).sum())
    out["nonmanifold_edges"] = int((ucount > 2).sum())
    directed = a * n + b
    sd = np.sort(directed)
    dup = int((sd[1:] == sd[:-1]).sum())
    out["misoriented_edges"] = dup  # same direction twice: neighbours disagree
    if out["degenerate_faces"] or out["boundary_edges"] or out["nonmanifold_edges"] or dup:
        return out
    # Closed and consistently oriented: count the fans around each vertex by
    # following corner → twin half-edge → next corner around the same vertex.
    order = np.argsort(directed)
    twin = order[np.searchsorted(directed[order], b * n + a)]  # half-edge b→a
    tface, tk = twin // 3, twin % 3
    nxt = 3 * tface + (tk + 1) % 3  # corner at a in the twin's face
    lab = np.arange(len(a))
    p = nxt
    longest = int(np.bincount(a).max())  # no fan is longer than a vertex's corners
    window = 1
    while True:  # pointer doubling: lab[c] = min over the next 2·window corners
        lab = np.minimum(lab, lab[p])
        window *= 2
        if window >= longest:
            break
        p = p[p]
    fans = int((lab == np.arange(len(a))).sum())
    out["nonmanifold_vertices"] = fans - len(np.unique(a))
    return out


def volume_and_centroid(pos, faces):
    """Signed enclosed volume (mm³) and volume centroid (mm)."""
    if len(faces) == 0:
        return 0.0, np.full(3, np.nan)
    origin = pos.mean(axis=0)  # centred sums lose less to cancellation
    v0, v1, v2 = (pos[faces[:, k]] - origin for k in range(3))
    tet = np.einsum("ij,ij->i", v0, np.cross(v1, v2)) / 6.0
    vol = float(tet.sum())
    if vol == 0:
        return 0.0, np.full(3, np.nan)
    cen = (tet[:, None] * (v0 + v1 + v2)).sum(axis=0) / (4.0 * vol) + origin
    return vol, cen


def nearest_rank(d, q):
    """The ceil(q n)-th smallest of d (nearest-rank quantile); NaN if empty."""
    if len(d) == 0:
        return float("nan")
    k = min(max(int(np.ceil(q * len(d))) - 1, 0), len(d) - 1)
    return float(np.sort(d)[k])


def _segment_distance(p, a, e):
    d = p - a
    ee = float(e @ e)
    t = np.clip((d @ e) / ee, 0.0, 1.0) if ee > 0 else np.zeros(len(p))
    return np.linalg.norm(d - t[:, None] * e, axis=1)


def boundary_distances(data, affine, label, pos):
    """Distance (mm) from each point of pos (n,3 RAS mm) to the nearest
    voxel-boundary face of label. Exact: searches growing Chebyshev shells of
    voxels around each point's nearest voxel until no unsearched face can be
    nearer (a face of shell r+1 is >= r index units away along some axis a,
    so >= r / ||row a of A^-1|| mm)."""
    A, t = affine[:3, :3], affine[:3, 3]
    inv = np.linalg.inv(A)
    bound = 1.0 / np.linalg.norm(inv, axis=1).max()
    dims = np.array(data.shape[:3])
    q = (pos - t) @ inv.T
    c = np.rint(q).astype(np.int64)
    best = np.full(len(pos), np.inf)
    act = np.arange(len(pos))

    def is_label(v):
        ok = ((v >= 0) & (v < dims)).all(axis=1)
        out = np.zeros(len(v), dtype=bool)
        w = v[ok]
        out[ok] = data[w[:, 0], w[:, 1], w[:, 2]] == label
        return out

    r = 0
    rmax = int(dims.max()) + int(np.abs(c).max(initial=0)) + 1
    while len(act) and r <= rmax:
        rng = np.arange(-r, r + 1)
        off = np.stack(np.meshgrid(rng, rng, rng, indexing="ij"), -1).reshape(-1, 3)
        off = off[np.abs(off).max(axis=1) == r]
        p_act = pos[act]
        for o in off:
            v = c[act] + o
            inside = is_label(v)
            if not inside.any():
                continue
            for ax in range(3):
                b, cc = (ax + 1) % 3, (ax + 2) % 3
                u, w = A[:, b], A[:, cc]
                G = np.linalg.inv(np.array([[u @ u, u @ w], [u @ w, w @ w]]))
                for s in (-1, 1):
                    nb = v.copy()
                    nb[:, ax] += s
                    face = inside & ~is_label(nb)
                    if not face.any():
                        continue
                    idx = v[face].astype(float)
                    idx[:, ax] += 0.5 * s
                    idx[:, b] -= 0.5
                    idx[:, cc] -= 0.5
                    dd = p_act[face] - (idx @ A.T + t)
                    su, sw = (np.stack([dd @ u, dd @ w], 1) @ G.T).T
                    d = np.linalg.norm(dd - su[:, None] * u - sw[:, None] * w, axis=1)
                    out = (su < 0) | (su > 1) | (sw < 0) | (sw > 1)
                    if out.any():
                        z = np.zeros(3)
                        e = dd[out]
                        d[out] = np.minimum.reduce([_segment_distance(e, z, u), _segment_distance(e, z, w),
                                                    _segment_distance(e, u, w), _segment_distance(e, w, u)])
                    sel = act[face]
                    best[sel] = np.minimum(best[sel], d)
        act = act[~(best[act] <= r * bound)]
        r += 1
    return best


# ---------------------------------------------------------------- driver


def mesh_files(outdir):
    """[(label, name, path, manifest entry)] for every organ the stack wrote."""
    mpath = os.path.join(outdir, "manifest.json")
    if not os.path.exists(mpath):
        found = []
        for p in sorted(glob.glob(os.path.join(outdir, "stl", "*.stl"))):
            m = re.search(r"(\d+)\.stl$", p)
            if m:
                found.append((int(m.group(1)), None, p, {}))
        if not found:
            raise FileNotFoundError(f"{outdir}: no manifest.json and no stl/*<label>.stl files")
        return found
    with open(mpath) as f:
        man = json.load(f)
    organs = man.get("organs", man.get("meshes")) if isinstance(man, dict) else man
    if not isinstance(organs, list):
        raise ValueError(f"{mpath}: no organ list (expected key 'organs')")
    found = []
    for o in organs:
        label, name = int(o["label"]), o.get("name")
        cands = []
        for key in ("file", "stl"):
            if isinstance(o.get(key), str):
                cands.append(o[key])
        files = o.get("files")
        if isinstance(files, dict) and isinstance(files.get("stl"), str):
            cands.append(files["stl"])
        if name:
            cands.append(os.path.join("stl", f"{name}.stl"))
        cands += [os.path.join("stl", f"label_{label}.stl"), os.path.join("stl", f"{label}.stl")]
        path = next((os.path.join(outdir, c) for c in cands if os.path.exists(os.path.join(outdir, c))), None)
        if path is None:
            raise FileNotFoundError(f"{outdir}: no mesh file for label {label} (tried {', '.join(cands)})")
        found.append((label, name, path, o))
    return found


def evaluate(stats, outdir):
    """Evaluates one stack's output against the label map statistics."""
    organs = []
    notes = []
    all_bd = []
    for label, name, path, entry in mesh_files(outdir):
        pos, faces = read_mesh(path)
        pos, faces = weld(pos, faces)
        topo = topology(len(pos), faces)
        vol, cen = volume_and_centroid(pos, faces)
        nvox = stats.voxels(label)
        vml = nvox * stats.voxel_ml
        bd = boundary_distances(stats.data, stats.affine, label, pos) if nvox and len(pos) else np.zeros(0)
        all_bd.append(bd)
        o = {
            "label": label, "name": name, "file": os.path.relpath(path, outdir),
            "voxels": nvox, "voxelMl": vml, "meshMl": vol / 1000.0,
            "volumeErrorPct": (vol / 1000.0 - vml) / vml * 100.0 if vml > 0 else None,
            "triangles": int(len(faces)),
            "watertight": not any(topo.values()) and len(faces) > 0,
            "centroidOffsetMm": float(np.linalg.norm(cen - stats.centroid[label])) if nvox else None,
            "boundaryDistP95Mm": nearest_rank(bd, 0.95) if len(bd) else None,
            "boundaryDistMaxMm": nearest_rank(bd, 1.0) if len(bd) else None,
        }
        o.update(topo)
        for key, mine in (("voxelCount", nvox), ("meshVolumeMl", vol / 1000.0), ("triangles", len(faces))):
            theirs = entry.get(key)
            if isinstance(theirs, (int, float)) and not np.isclose(theirs, mine, rtol=1e-3, atol=1e-6):
                o.setdefault("manifestMismatch", {})[key] = theirs
        for key in ("boundaryDistP95Mm", "boundaryDistMaxMm"):  # manifest rounds to 1e-4 mm
            theirs, mine = entry.get(key), o[key]
            if isinstance(theirs, (int, float)) and mine is not None and abs(theirs - mine) > 2e-4:
                o.setdefault("manifestMismatch", {})[key] = theirs
        organs.append(o)
    written = {o["label"] for o in organs}
    missing = [lab for lab in stats.labels if lab not in written]
    if missing:
        notes.append(f"no mesh for labels {missing}")
    extra = sorted(written - set(stats.labels))
    if extra:
        notes.append(f"meshes for absent labels {extra}")
    mism = [o["label"] for o in organs if "manifestMismatch" in o]
    if mism:
        notes.append(f"manifest disagrees with evaluator for labels {mism}")
    big = [o for o in organs if o["voxels"] >= MIN_VOXELS]
    errs = np.array([o["volumeErrorPct"] for o in big], dtype=float)
    worst = big[int(np.argmax(np.abs(errs)))] if len(big) else None
    inside_out = [o["label"] for o in organs if o["meshMl"] < 0]
    if inside_out:
        notes.append(f"inside-out meshes (negative volume) for labels {inside_out}")
    summary = {
        "labelsPresent": len(stats.labels),
        "meshes": len(organs),
        "triangles": sum(o["triangles"] for o in organs),
        "organsOver1000": len(big),
        "medianAbsVolumeErrorPct": float(np.median(np.abs(errs))) if len(big) else None,
        "worstVolumeErrorPct": float(worst["volumeErrorPct"]) if worst else None,
        "worstLabel": worst["label"] if worst else None,
        "watertight": sum(o["watertight"] for o in organs),
        "watertightFraction": (sum(o["watertight"] for o in organs) / len(organs)) if organs else 0.0,
        "maxCentroidOffsetMm": max((o["centroidOffsetMm"] for o in big), default=None),
        "boundaryDistP95Mm": nearest_rank(np.concatenate(all_bd), 0.95) if all_bd else None,
        "boundaryDistMaxMm": nearest_rank(np.concatenate(all_bd), 1.0) if all_bd else None,
        "boundaryDistMaxLabel": max((o for o in organs if o["boundaryDistMaxMm"] is not None),
                                    key=lambda o: o["boundaryDistMaxMm"], default={}).get("label"),
        "notes": notes,
    }
    return {"summary": summary, "organs": organs}


def selftest():
    """Checks the checks on meshes whose answers are known; raises on failure."""
    P = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    tet = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]])
    clean = dict.fromkeys(topology(4, tet), 0)
    vol, cen = volume_and_centroid(P, tet)
    assert np.isclose(vol, 1 / 6) and np.allclose(cen, 0.25), (vol, cen)
    assert topology(4, tet) == clean
    assert volume_and_centroid(P, tet[:, ::-1])[0] < 0, "inside-out must be negative"
    flipped = tet.copy()
    flipped[0] = flipped[0][::-1]
    assert topology(4, flipped)["misoriented_edges"] == 3
    assert topology(4, tet[:3])["boundary_edges"] == 3
    pinched = np.vstack([tet, np.where(tet == 0, 0, tet + 3)[:, ::-1]])  # two tets, one shared vertex
    assert topology(7, pinched)["nonmanifold_vertices"] == 1
    assert topology(4, np.vstack([tet, [[0, 0, 1]]]))["degenerate_faces"] == 1
    pos, faces = weld(P[tet].reshape(-1, 3), np.arange(12).reshape(-1, 3))  # as STL stores it
    assert len(pos) == 4 and topology(4, faces) == clean
    neg0 = P[tet].reshape(-1, 3) * np.array([-1.0, 1, 1])  # -0.0 must weld with +0.0
    neg0[0, 0] = 0.0
    assert len(weld(neg0, np.arange(12).reshape(-1, 3))[0]) == 4
    # Boundary distance: one voxel at the origin of a 2 mm grid; its faces
    # are the cube [-1, 1]^3 mm.
    vox = np.zeros((3, 3, 3), np.uint8)
    vox[1, 1, 1] = 1
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = -2.0
    pts = np.array([[0, 0, 1], [0, 0, 1.5], [0, 0, 0], [2, 2, 2], [0.5, 0.5, -1], [7, 0, 0]], float)
    got = boundary_distances(vox, aff, 1, pts)
    want = [0, 0.5, 1, np.sqrt(3), 0, 6]
    assert np.allclose(got, want), (got, want)
    assert nearest_rank(np.arange(1.0, 11.0), 0.95) == 10 and nearest_rank(np.arange(1.0, 11.0), 0.5) == 5


def main():
    if sys.argv[1:] == ["--selftest"]:
        selftest()
        print("evaluate.py: self-test passed")
        return
    if len(sys.argv) < 3:
        sys.exit("usage: evaluate.py LABELS.nii.gz OUTDIR [--json]")
    res = evaluate(LabelStats(sys.argv[1]), sys.argv[2])
    if "--json" in sys.argv[3:]:
        json.dump(res, sys.stdout, indent=1)
        print()
        return
    s = res["summary"]
    print(json.dumps(s, indent=1))
    for o in res["organs"]:
        flag = "" if o["watertight"] else "  NOT WATERTIGHT " + str({k: o[k] for k in (
            "degenerate_faces", "boundary_edges", "nonmanifold_edges", "misoriented_edges",
            "nonmanifold_vertices") if o[k]})
        err = "" if o["volumeErrorPct"] is None else f"{o['volumeErrorPct']:+7.2f}%"
        print(f"{o['label']:4d} {o['name'] or '':28s} vox {o['voxels']:9d} tris {o['triangles']:8d} "
              f"vol {err} cen {o['centroidOffsetMm'] or 0:6.2f} mm "
              f"bnd p95 {o['boundaryDistP95Mm'] or 0:5.2f} max {o['boundaryDistMaxMm'] or 0:5.2f} mm{flag}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Runs the meshing stacks side by side on the same label maps and prints one
Markdown table (also written to --md, with per-organ details in --json).

usage: bench.py --iris BIN [--out DIR] [--md FILE] [--json FILE] [--large INPUT]
                [--stacks ours,vtk,skimage] [--reuse vtk,skimage] [--timeout S] [--repeat N] INPUT.nii.gz...

Stacks, each run as a child process with the same input and target (10% of
each organ's extracted triangles):
  ours     BIN mesh INPUT -o OUT --reduce 0.1 --formats stl
  vtk      ref_vtk.py INPUT OUT            (Slicer's flying edges + windowed sinc + vtkQuadricDecimation)
  skimage  ref_skimage_open3d.py INPUT OUT (original design: skimage marching cubes + Open3D quadric)
Wall time is measured around the child; CPU time (user+sys) and peak RSS are
the child's, from GNU time (/usr/bin/time -f %M; wait4's ru_maxrss would also
count this process's memory at the fork). Every output is judged by
evaluate.py. A stack that fails or times out gets its error in its row; the
run goes on.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

import evaluate

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
STACK_NAMES = {"ours": "ours (iris mesh)", "vtk": "VTK (Slicer)", "skimage": "skimage+Open3D"}

# Targets on the large input (the issue's acceptance criteria).
SPEEDUP_VTK, SPEEDUP_SKIMAGE = 20.0, 20.0
CPU_SPEEDUP_VTK = 10.0
MAX_RSS_MB = 500.0
MAX_WORST_ERR, MAX_MEDIAN_ERR = 3.0, 1.0


def command(stack, iris, src, out):
    if stack == "ours":
        return [iris, "mesh", src, "-o", out, "--reduce", "0.1", "--formats", "stl"]
    script = {"vtk": "ref_vtk.py", "skimage": "ref_skimage_open3d.py"}[stack]
    return [PY, os.path.join(HERE, script), src, out]


# GNU time, when present, measures the child: os.wait4's ru_maxrss counts,
# besides the child's own peak, this Python process's resident memory when
# it forked (Linux keeps the pre-exec high-water mark across exec), which
# after evaluate.LabelStats on big_labels is some 510 MB, more than ours.
GNU_TIME = "/usr/bin/time"


class Usage:
    """CPU seconds and peak RSS of a child, as from wait4."""

    def __init__(self, ru, measured=None):
        self.ru_utime, self.ru_stime, self.ru_maxrss = ru.ru_utime, ru.ru_stime, ru.ru_maxrss
        if measured:  # "maxrss_KB user_s sys_s" from GNU time
            rss, user, sys_ = measured.split()
            self.ru_maxrss, self.ru_utime, self.ru_stime = int(rss), float(user), float(sys_)


def run_child(cmd, log_path, timeout):
    """Runs cmd with stdout+stderr to log_path. Returns (rc or None on
    timeout, wall seconds, usage with ru_utime, ru_stime, ru_maxrss in KB)."""
    usage_path = log_path + ".usage"
    if os.path.exists(usage_path):
        os.remove(usage_path)
    if os.access(GNU_TIME, os.X_OK):
        cmd = [GNU_TIME, "-f", "%M %U %S", "-o", usage_path] + cmd
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(proc.pid, 0)
                proc.returncode = -9
                return None, time.perf_counter() - t0, Usage(ru)
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    measured = None
    if os.path.exists(usage_path):
        with open(usage_path) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        measured = lines[-1] if lines else None  # after "Command exited with non-zero status"
    return proc.returncode, wall, Usage(ru, measured)


def last_lines(path, n=2, width=240):
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError as e:
        return str(e)
    return " / ".join(lines[-n:])[-width:] or "(no output)"


def fingerprint(stack, src):
    """What a cached reference run depends on: the input file and the scripts."""
    st = os.stat(src)
    h = hashlib.sha256()
    if stack != "ours":
        for f in ("common.py", {"vtk": "ref_vtk.py", "skimage": "ref_skimage_open3d.py"}[stack]):
            with open(os.path.join(HERE, f), "rb") as fh:
                h.update(fh.read())
    return {"inputSize": st.st_size, "inputMtime": st.st_mtime, "scripts": h.hexdigest()}


def bench_one(stack, iris, src, outroot, timeout, stats, stats_err, reuse, repeat=1):
    name = os.path.basename(src).removesuffix(".gz").removesuffix(".nii")
    out = os.path.join(outroot, name, stack)
    row = {"input": name, "stack": stack}
    log, runfile = out + ".log", out + ".run.json"
    fp = fingerprint(stack, src)
    cached = None
    if reuse and os.path.exists(runfile):
        with open(runfile) as f:
            cached = json.load(f)
        if cached.get("fingerprint") != fp:
            cached = None
    if cached:
        row.update(wall=cached["wall"], cpu=cached["cpu"], rssMB=cached["rssMB"], log=log,
                   cachedFrom=cached["when"])
    else:
        shutil.rmtree(out, ignore_errors=True)
        for f in (runfile, log):
            if os.path.exists(f):
                os.remove(f)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if stack == "ours" and not os.path.exists(iris):
            row["error"] = f"{iris} not built (see the go build output above)"
            return row
        # Each run writes the same outputs afresh; the row keeps the run of
        # median wall time, and every run's wall time is noted, so that a
        # moment of contention on a shared machine neither decides nor hides.
        runs = []
        for _ in range(repeat):
            shutil.rmtree(out, ignore_errors=True)
            rc, wall, ru = run_child(command(stack, iris, src, out), log, timeout)
            row.update(wall=wall, cpu=ru.ru_utime + ru.ru_stime, rssMB=ru.ru_maxrss / 1024.0, log=log)
            if rc is None:
                row["error"] = f"timed out after {timeout:.0f} s"
                return row
            if rc != 0:
                row["error"] = f"exit {rc}: {last_lines(log)}"
                return row
            runs.append((wall, row["cpu"], row["rssMB"]))
        if repeat > 1:
            wall, cpu, _ = sorted(runs)[len(runs) // 2]
            row.update(wall=wall, cpu=cpu, rssMB=max(r[2] for r in runs),
                       runs=[r[0] for r in runs], cpuRuns=[r[1] for r in runs],
                       rssRuns=[r[2] for r in runs])
        with open(runfile, "w") as f:
            json.dump({"wall": row["wall"], "cpu": row["cpu"], "rssMB": row["rssMB"], "fingerprint": fp,
                       "when": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg()[0]}, f)
    if stats is None:
        row["error"] = f"label map unreadable by the evaluator: {stats_err}"
        return row
    try:
        res = evaluate.evaluate(stats, out)  # always re-evaluated, cached or not
    except Exception as e:  # one broken output must not end the run
        row["error"] = f"evaluate: {type(e).__name__}: {e}"
        return row
    row.update(res["summary"])
    if len(row.get("runs", [])) > 1:
        row["notes"] = ["median of " + ", ".join(f"{w:.2f}" for w in row["runs"]) + " s"
                        + (" (CPU " + ", ".join(f"{c:.2f}" for c in row["cpuRuns"]) + " s)" if row.get("cpuRuns") else "")
                        + "; peak RSS of all"
                        + (" (" + ", ".join(f"{m:.0f}" for m in row["rssRuns"]) + " MB)" if row.get("rssRuns") else "")] + row["notes"]
    if cached:
        row["notes"] = [f"timings cached from {cached['when']} (load {cached.get('load', 0):.1f})"] + row["notes"]
    row["organDetails"] = res["organs"]
    return row


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def table(rows):
    out = ["| input | stack | wall (s) | CPU (s) | peak RSS (MB) | meshes/labels | triangles out | "
           "median \\|vol err\\| (%) | worst vol err (%) | watertight | max centroid offset (mm) | "
           "boundary dist p95 (mm) | boundary dist max (mm) | notes |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        head = f"| {r['input']} | {STACK_NAMES[r['stack']]} | {fmt(r.get('wall'), '.2f')} | {fmt(r.get('cpu'), '.2f')} | {fmt(r.get('rssMB'), '.0f')} |"
        if "error" in r:
            msg = r["error"].replace("|", "\\|")
            out.append(f"{head} – | – | – | – | – | – | – | – | **FAILED**: {msg} |")
            continue
        wt = f"{r['watertight']}/{r['meshes']} ({100 * r['watertightFraction']:.0f}%)"
        worst = f"{fmt(r['worstVolumeErrorPct'], '+.2f')} (label {r['worstLabel']})" if r["worstLabel"] else "–"
        notes = "; ".join(r["notes"]).replace("|", "\\|")
        out.append(f"{head} {r['meshes']}/{r['labelsPresent']} | {r['triangles']} | "
                   f"{fmt(r['medianAbsVolumeErrorPct'], '.2f')} | {worst} | {wt} | "
                   f"{fmt(r['maxCentroidOffsetMm'], '.2f')} | {fmt(r.get('boundaryDistP95Mm'), '.2f')} | "
                   f"{fmt(r.get('boundaryDistMaxMm'), '.2f')} (label {r.get('boundaryDistMaxLabel')}) | {notes} |")
    return out


def ratios(rows):
    by = {(r["input"], r["stack"]): r for r in rows}
    inputs = list(dict.fromkeys(r["input"] for r in rows))
    out = ["| input | VTK wall / ours | skimage+Open3D wall / ours | VTK CPU / ours | skimage+Open3D CPU / ours "
           "| VTK RSS / ours | skimage+Open3D RSS / ours |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for name in inputs:
        ours = by.get((name, "ours"))
        cells = []
        for key in ("wall", "cpu", "rssMB"):
            for other in ("vtk", "skimage"):
                o = by.get((name, other))
                if ours and o and "error" not in ours and "error" not in o and ours.get(key):
                    cells.append(f"{o[key] / ours[key]:.1f}×")
                else:
                    cells.append("–")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def targets(rows, large):
    by = {(r["input"], r["stack"]): r for r in rows}
    ours, vtk, sk = (by.get((large, s)) for s in ("ours", "vtk", "skimage"))
    if not ours:
        return []
    out = [f"Targets on {large} (ours):", ""]

    def check(what, ok, detail):
        out.append(f"- {'PASS' if ok else 'FAIL'} {what}: {detail}")

    if "error" in ours:
        check("ours ran", False, ours["error"])
        return out
    def spread(runs):
        # The worst and best pairing of a reference run with one of ours.
        if not (ours.get(runs) and other.get(runs)):
            return ""
        return f", runs {min(other[runs]) / max(ours[runs]):.1f}–{max(other[runs]) / min(ours[runs]):.1f}×"

    for other, need, label in ((vtk, SPEEDUP_VTK, "VTK"), (sk, SPEEDUP_SKIMAGE, "skimage+Open3D")):
        if other and "error" not in other:
            x = other["wall"] / ours["wall"]
            check(f"≥ {need:.0f}× faster than {label} in wall time", x >= need,
                  f"{x:.1f}× (medians{spread('runs')})")
            if label == "VTK":
                c = other["cpu"] / ours["cpu"]
                check(f"≥ {CPU_SPEEDUP_VTK:.0f}× less CPU time than VTK", c >= CPU_SPEEDUP_VTK,
                      f"{c:.1f}× (medians{spread('cpuRuns')})")
    rss = ours.get("rssRuns") or [ours["rssMB"]]
    check(f"peak RSS < {MAX_RSS_MB:.0f} MB in every run", max(rss) < MAX_RSS_MB,
          ", ".join(f"{m:.0f}" for m in rss) + " MB")
    w, m = ours["worstVolumeErrorPct"], ours["medianAbsVolumeErrorPct"]
    check(f"every organ ≥ {evaluate.MIN_VOXELS} voxels within {MAX_WORST_ERR:.0f}% volume",
          w is not None and abs(w) <= MAX_WORST_ERR, f"worst {fmt(w, '+.2f')}%")
    check(f"median volume error ≤ {MAX_MEDIAN_ERR:.0f}%", m is not None and m <= MAX_MEDIAN_ERR, f"{fmt(m, '.2f')}%")
    check("100% watertight/manifold", ours["watertightFraction"] == 1.0 and ours["meshes"] == ours["labelsPresent"],
          f"{ours['watertight']}/{ours['meshes']} meshes, {ours['labelsPresent']} labels")
    return out


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iris", required=True, help="the built iris binary")
    ap.add_argument("--out", default="bench/out/mesh")
    ap.add_argument("--md", default="bench/out/mesh-bench.md")
    ap.add_argument("--json", default="bench/out/mesh-bench.json")
    ap.add_argument("--large", default="", help="input whose results are checked against the targets")
    ap.add_argument("--stacks", default="ours,vtk,skimage")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--repeat", type=int, default=1, help="runs of every stack on every input; the median counts")
    ap.add_argument("--reuse", default="", help="stacks whose last run (same input, same scripts) is reused, "
                    "e.g. vtk,skimage: their timings are taken from it and their meshes re-evaluated")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    stacks = a.stacks.split(",")
    reuse = set(filter(None, a.reuse.split(",")))
    for s in stacks + sorted(reuse):
        if s not in STACK_NAMES:
            sys.exit(f"bench.py: unknown stack {s!r} (want {', '.join(STACK_NAMES)})")
    load0 = os.getloadavg()[0]
    rows = []
    for src in a.inputs:
        try:
            stats, err = evaluate.LabelStats(src), None
        except Exception as e:
            stats, err = None, f"{type(e).__name__}: {e}"
        for s in stacks:
            print(f"bench: {os.path.basename(src)}: {STACK_NAMES[s]} …", file=sys.stderr, flush=True)
            r = bench_one(s, a.iris, src, a.out, a.timeout, stats, err, s in reuse, a.repeat)
            print(f"bench:   {r.get('wall', 0):.2f} s wall, {r.get('cpu', 0):.2f} s CPU, {r.get('rssMB', 0):.0f} MB"
                  + (f", FAILED: {r['error']}" if "error" in r else ""), file=sys.stderr, flush=True)
            rows.append(r)
    large = os.path.basename(a.large).removesuffix(".gz").removesuffix(".nii") if a.large else ""
    md = [f"# Mesher benchmark ({time.strftime('%Y-%m-%d %H:%M')})", "",
          f"Machine: {machine()}; load average {load0:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (other work on the machine inflates wall times). Target: 10% of each organ's extracted triangles. "
          f"Volume errors over organs ≥ {evaluate.MIN_VOXELS} voxels; watertight = closed, consistently "
          "oriented 2-manifold after welding equal vertices (bench/mesh/evaluate.py).", ""]
    md += table(rows) + ["", "Ratios (reference / ours; higher is better for ours):", ""] + ratios(rows)
    t = targets(rows, large)
    if t:
        md += [""] + t
    text = "\n".join(md) + "\n"
    sys.stdout.write(text)
    for path, body in ((a.md, text), (a.json, json.dumps(rows, indent=1, default=float))):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                f.write(body)


if __name__ == "__main__":
    main()

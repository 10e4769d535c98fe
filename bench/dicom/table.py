"""table.py RUNS.tsv: the DICOM benchmark's Markdown table from its runs
(syntax, stack, round, wall s, CPU s, peak RSS KB)."""
import statistics as st
import sys
from collections import defaultdict

runs = defaultdict(dict)
for line in open(sys.argv[1]):
    syn, who, r, wall, cpu, rss = line.split("\t")
    runs[(syn, who)][int(r)] = (float(wall), float(cpu), int(rss) / 1024)


def med(xs):
    return f"{st.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


print("| series | stack | wall s: median (range) | CPU s: median (range) | peak RSS MB | dcm2niix wall / ours, per round | dcm2niix CPU / ours |")
print("|---|---|---:|---:|---:|---:|---:|")
for syn in dict.fromkeys(k[0] for k in runs):
    ours, ref = runs[(syn, "ours")], runs[(syn, "dcm2niix")]
    rw = [ref[r][0] / ours[r][0] for r in ours]
    rc = [ref[r][1] / ours[r][1] for r in ours]
    for who, d in (("ours (iris convert)", ours), ("dcm2niix -z n", ref)):
        v = list(d.values())
        rounds = ", ".join(f"{x:.2f}" for x in rw)
        ratio = f"{st.median(rw):.2f}× ({min(rw):.2f}–{max(rw):.2f}; rounds {rounds})" if d is ours else ""
        cratio = f"{st.median(rc):.2f}× ({min(rc):.2f}–{max(rc):.2f})" if d is ours else ""
        print(f"| {syn} | {who} | {med([x[0] for x in v])} | {med([x[1] for x in v])} | {max(x[2] for x in v):.0f} | {ratio} | {cratio} |")

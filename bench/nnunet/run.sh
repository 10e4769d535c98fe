#!/usr/bin/env bash
# The totalseg-fast network's forward pass on one 112x112x128 patch, Go
# against PyTorch on the CPU, same weights and input, same run. Needs
# Debian's python3-torch (/usr/bin/python3). The --fast-shaped random-weight
# model (~130 MB) is written to bench/out/nnunet, never committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/out/nnunet
mkdir -p "$out"
threads=${GOMAXPROCS:-}
threads=${threads:-$(nproc)}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 tools/nnunet/ref.py fast "$out" --threads "$threads" --repeats 2 >/dev/null
res=$(IRIS_NNUNET_FAST="$PWD/$out" GOMAXPROCS=$threads go test -run '^$' -bench 'ForwardFast' -benchtime 2x ./internal/nnunet | grep '^BenchmarkForwardFast')
load1=$(cut -d' ' -f1-3 /proc/loadavg)
metric() { echo "$res" | tr -s ' \t' '\n' | grep -B1 -x "$1" | head -1; }
printf 'threads %s; load average before %s, after %s (figures on a shared machine move with it)\n' "$threads" "$load0" "$load1"
printf '%-28s %12s %12s %8s\n' "forward, 112x112x128" "PyTorch $(/usr/bin/python3 -c 'import torch;print(torch.__version__)')" "Go" "Go/PyT"
printf '%-28s %12.1f %12.1f %8.2f\n' "wall s (best of 2)" "$(metric torch_s)" "$(echo "$res" | awk '{print $3/1e9}')" "$(metric go/torch)"
printf '%-28s %12.1f %12.1f %8.2f\n' "CPU s (user+sys)" "$(metric torch_cpu_s)" "$(metric cpu_s/op)" "$(metric go/torch_cpu)"
printf '%-28s %12.2f %12.2f\n' "peak RSS GiB" "$(metric torch_peakRSS_GiB)" "$(metric peakRSS_GiB)"
printf 'Go vs PyTorch logits: max abs diff / range %s, argmax agreement %s %%\n' "$(metric maxdiff/range)" "$(metric argmax_agree_%)"
printf 'estimated Go time: shared CT (1 tile) %.0f s; 512x512x600 CT at 0.8x0.8x1.5 mm (16 tiles at step 0.8) %.0f s\n' \
	"$(metric est_sharedCT_s)" "$(metric est_512x512x600_s)"

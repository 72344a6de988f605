#!/usr/bin/env bash
# One device lease, as one command: the Triton kernels against the torch reference at full size with their timings
# (benchmarks/gpu.py), the bundled pipeline on CUDA against the CPU, then windows-recipe continuations of vha2 side by
# side until TOTAL_S seconds after the start. From the repository root on the CUDA machine:
#   OUT=/some/dir TOTAL_S=540 [RUNS="gA 32 1e-4 13 8;gB 64 2e-4 14 16"] [INIT=coarse.safetensors] \
#     bash scripts/vha_gpu/session.sh
# RUNS: "name batch lr seed windows-per-frame" entries (default: the three of the first lease, 2026-12-04).
# $OUT gets check.txt, train.txt and NAME/{coarse.safetensors,log.jsonl} for each run (8 files for three runs).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD OMP_NUM_THREADS=4 NUMBA_NUM_THREADS=4 TRITON_DEFAULT_FP_FUSION=1
TOTAL_S=${TOTAL_S:-540}
RUNS=${RUNS:-"gA 32 1e-4 13 8;gB 64 2e-4 14 16;gC 128 3e-4 15 32"}
START=$(date +%s)
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
  python3 -c "import sys, torch, triton, numpy, numba; print(sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__)"
  timeout 200 python3 benchmarks/gpu.py
  echo "gpu.py rc $?"
  timeout 90 python3 scripts/vha_gpu/pipeline_check.py
  echo "pipeline_check rc $?"
} > "$OUT/check.txt" 2>&1
cat "$OUT/check.txt"
if ! grep -q "gpu.py rc 0" "$OUT/check.txt"; then export LOCO_BACKEND=torch; echo "kernel check failed: training on torch"; fi
BUDGET=$((TOTAL_S - ($(date +%s) - START) - 25))
echo "training budget ${BUDGET} s"
if [ "$BUDGET" -lt 90 ]; then echo "no time left to train"; exit 0; fi
mkdir -p /tmp/runs
NAMES=$(echo "$RUNS" | tr ';' '\n' | awk '{print $1}')
copy() {  # what the runs have written so far comes back even if the lease ends the command early
  for r in $NAMES; do
    mkdir -p "$OUT/$r"
    cp /tmp/runs/$r/coarse.safetensors /tmp/runs/$r/log.jsonl "$OUT/$r/" 2>/dev/null
  done
}
( while sleep 30; do copy; done ) &
COPIER=$!
PIDS=""
while read -r name batch lr seed wpf; do
  [ -z "$name" ] && continue
  ( timeout $((BUDGET + 15)) python3 scripts/vha_gpu/train.py "$name" "$BUDGET" "$batch" "$lr" "$seed" /tmp/runs \
      --windows-per-frame "$wpf" 2>&1 | sed "s/^/[$name] /" >> "$OUT/train.txt" ) &
  PIDS="$PIDS $!"
done < <(echo "$RUNS" | tr ';' '\n')
wait $PIDS
kill $COPIER
grep -v "^\[g.\] *$" "$OUT/train.txt" | tail -n 12
copy
nvidia-smi --query-gpu=clocks.sm,temperature.gpu,memory.used --format=csv
echo "total $(($(date +%s) - START)) s"

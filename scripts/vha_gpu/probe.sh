#!/usr/bin/env bash
# Training speed on the CUDA machine, 40 windows steps and 20 plain full-frame steps: `OUT=dir bash
# scripts/vha_gpu/probe.sh`. Writes $OUT/probe.txt (the last log lines of each). DEVICE=cpu to try it here.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD OMP_NUM_THREADS=8 TRITON_DEFAULT_FP_FUSION=1
DEV=${DEVICE:-cuda}
W=${W_STEPS:-40}
P=${P_STEPS:-20}
rm -rf /tmp/probe_w /tmp/probe_p
{
  echo "windows recipe, batch 64 of 14x80x48x48 windows, fp32, Triton render and peak search ($W steps):"
  timeout 90 python3 -m loco.cli train vha --recipe windows --device "$DEV" --batch-size 64 --windows-per-frame 16 \
    --warmup 50 --leaky-output 0.01 --val-frames 0 --no-progress --log-every 10 --version 2 \
    --init loco/weights/coarse_cpu/vha2.safetensors --steps "$W" --crop 48,48 --window-depth 20 --lr 1e-4 \
    --fuser-lr-scale 10 --leaky-code 0 --person-crop 0.7 --seed 16 --out /tmp/probe_w > /tmp/probe_w.txt 2>&1
  echo "rc $?"; tail -n 3 /tmp/probe_w/log.jsonl; tail -n 2 /tmp/probe_w.txt
  echo "plain recipe, VHA v2 on whole 14x316x136x240 frames, batch 2, bf16 autocast ($P steps):"
  timeout 120 python3 -m loco.cli train vha --device "$DEV" --amp bf16 --version 2 --crop 136,240 --batch-size 2 \
    --steps "$P" --log-every 5 --val-frames 0 --no-progress --seed 16 --out /tmp/probe_p > /tmp/probe_p.txt 2>&1
  echo "rc $?"; tail -n 3 /tmp/probe_p/log.jsonl; tail -n 2 /tmp/probe_p.txt
} 2>&1 | tee "$OUT/probe.txt"

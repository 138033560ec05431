#!/usr/bin/env bash
# GPU figures for the README, unattended, in under 8 minutes on one CUDA machine, from a fresh
# clone after `scripts/bootstrap.sh test`:
#   1. training steps/s at the real 44 kHz config (batch 16, 16-bit mixed precision, one GPU);
#   2. rendering K=5 real-size checkpoints of a 20 s excerpt against 5 `svc infer` calls;
#   3. separation speed (x real time) of the default models' real shapes;
#   4. the dataset audit's speed (x real time), every check level.
# Models are random-weight stand-ins with the real shapes, built offline (nothing is downloaded).
# Usage: benchmarks/gpu.sh [RESULTS_DIR]   (default: $OUT when set, else ./gpu-results)
# Each step writes RESULTS_DIR/<step>.json (or <step>.txt) and its log; a failed or timed-out step
# is recorded in summary.json and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(realpath -m "${1:-${OUT:-gpu-results}}")
work=${SVCQA_BENCH_DIR:-.bench}
py=.venv/bin/python
mkdir -p "$results" "$work"
export HF_HUB_OFFLINE=1

status=()
step() {  # step NAME SECONDS COMMAND...: run it with a time limit, log it, note how it ended
  local name=$1 limit=$2
  shift 2
  local started=$SECONDS
  timeout --signal=INT --kill-after=15 "$limit" "$@" >"$results/$name.log" 2>&1
  local code=$?
  status+=("\"$name\": {\"exit_code\": $code, \"seconds\": $((SECONDS - started))}")
  echo "$name: exit $code after $((SECONDS - started)) s" >&2
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; uptime; nproc; } >"$results/machine.txt" 2>&1
$py -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || {
  echo "torch sees no CUDA device: these are GPU figures, nothing to measure here." >&2
  exit 1
}

step train 170 $py benchmarks/train.py --model-size real --accelerator gpu --devices 1 \
  --batch-size 16 --precision 16-mixed --clips 36 --clip-s 4 --warmup-steps 5 --steps 20 \
  --num-workers 4 --workdir "$work" --json "$results/train.json"
step render 170 $py benchmarks/render.py --model-size real --checkpoints 5 --device cuda \
  --workdir "$work" --json "$results/render.json"
step separate 80 $py benchmarks/separate.py --shapes real --device cuda --song-s 30 \
  --workdir "$work" --json "$results/separate.json"
step audit 50 $py benchmarks/audit.py --minutes 10
cp "$results/audit.log" "$results/audit.txt" 2>/dev/null

(IFS=,; echo "{${status[*]}}") >"$results/summary.json"
echo "results in $results" >&2

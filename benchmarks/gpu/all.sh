#!/usr/bin/env bash
# GPU throughput benchmarks of every model family, under one wall budget (< 5 minutes in all).
#
#   bash benchmarks/gpu/all.sh [--cpu-smoke]
#
# Each family is benchmarks/gpu/<family>.py, run with `--out $OUT/gpu_<family>.json --budget-s S`
# (it stops starting measurements after S seconds and rewrites its JSON after each one) under a
# hard `timeout` of its share of the budget. OUT defaults to runs/gpu. `--cpu-smoke` runs the same
# code on the CPU (small batches, one repeat, 2 threads), for a machine without a GPU.
#
# diffusers is not installed on the device machine: when `import diffusers` fails, the wheels in
# ${GPU_WHEELS:-.whl} (an ignored folder named in the run's carry list) are installed with
# --no-index --no-deps into a temporary --target folder (GPU_SITE) put first on PYTHONPATH.
# See benchmarks/gpu/README.md.
set -u
cd "$(dirname "$0")/../.." || exit 1

SMOKE=()
for arg in "$@"; do
  case "$arg" in
    --cpu-smoke) SMOKE=(--cpu-smoke) ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "all.sh: unknown argument $arg (usage: all.sh [--cpu-smoke])" >&2; exit 2 ;;
  esac
done

# family:seconds (the hard timeout of each; their sum must stay within TOTAL). Add clip, vlm here.
FAMILIES=("translator:240")
TOTAL=${GPU_BENCH_TOTAL_S:-285}
if [ ${#SMOKE[@]} -gt 0 ]; then
  FAMILIES=("translator:100")
  TOTAL=${GPU_BENCH_TOTAL_S:-110}
fi

OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$SECONDS
echo "all.sh: $(date -u +%FT%TZ) OUT=$OUT python=$(command -v "$PY") ${SMOKE[*]}"

# GPU_FORCE_WHEELS=1 installs the wheels even where diffusers is importable (to try this path here)
if [ "${GPU_FORCE_WHEELS:-0}" = 1 ] || ! "$PY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("diffusers") is None)' 2>/dev/null; then
  WHEELS=${GPU_WHEELS:-.whl}
  SITE=${GPU_SITE:-/tmp/fusionrs_gpu_site}
  if ! ls "$WHEELS"/diffusers-*.whl >/dev/null 2>&1; then
    echo "all.sh: diffusers is not importable and $WHEELS/diffusers-*.whl is missing (carry it: README.md)" >&2
    exit 3
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
    || { echo "all.sh: installing the carried wheels failed" >&2; exit 3; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  echo "all.sh: installed $(cd "$WHEELS" && ls ./*.whl | tr '\n' ' ')into $SITE ($((SECONDS - start)) s)"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ ${#SMOKE[@]} -eq 0 ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
fi

status=0
for entry in "${FAMILIES[@]}"; do
  family=${entry%%:*}
  share=${entry##*:}
  left=$((TOTAL - (SECONDS - start)))
  [ "$share" -gt "$left" ] && share=$left
  if [ "$share" -lt 20 ]; then
    echo "all.sh: $family skipped: ${left} s of the budget left" >&2
    status=1
    continue
  fi
  budget=$((share * 3 / 4 - 10))  # measurements stop starting here; the rest is start-up and the last one
  echo "all.sh: $family (timeout ${share} s, measurements until ${budget} s)"
  timeout -k 5 "$share" "$PY" "benchmarks/gpu/$family.py" --out "$OUT/gpu_$family.json" --budget-s "$budget" "${SMOKE[@]}"
  rc=$?
  [ $rc -ne 0 ] && { echo "all.sh: $family exited $rc" >&2; status=1; }
done
echo "all.sh: done in $((SECONDS - start)) s, status $status; JSON in $OUT"
exit $status

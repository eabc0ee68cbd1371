#!/bin/bash
# Finals of issue 16 per benchmarks/translator_plan.md (amended 2026-12-04 04:20): ours, then pix2pix,
# 45 wall-minutes x 2 threads each, then the scoring block. Log: runs/final/log.txt.
cd "$(dirname "$0")/.."
mkdir -p runs/final
source .venv/bin/activate
export HF_HUB_OFFLINE=1
P=../shared/data/rgbt_pairs/roadscene
AOS=../shared/data/aerial_pairs/aos_rgb_thermal
LOG=runs/final/log.txt
OURS="--preset base --pairs $P --world 60 --world-weight 0.2 --tune 11 --batch-size 6 --crop 128 --threads 2 --seed 0 --grad 2.0"
log() { echo "$(date -u +%H:%M:%S) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $LOG; }
wait_idle() {  # 1-minute load < 0.5 for a minute, or give up after 5 minutes (logged)
  for i in $(seq 1 30); do
    if python -c "import sys; sys.exit(0 if float(open('/proc/loadavg').read().split()[0]) < 0.5 else 1)"; then
      sleep 60; python -c "import sys; sys.exit(0 if float(open('/proc/loadavg').read().split()[0]) < 0.5 else 1)" && return 0
    fi
    sleep 10
  done
  log "machine not idle after 5 min, starting anyway"
}
cpu_sample() {  # CPU seconds (utime + stime) of process $1 every 5 s into $2, until it exits
  local tck; tck=$(getconf CLK_TCK)
  while [ -e /proc/$1/stat ]; do
    read -r -a f < /proc/$1/stat; echo "$(date -u +%s) $(( (${f[13]} + ${f[14]}) / tck ))" >> "$2"; sleep 5
  done
}
last_step() { tail -1 "$1/log.jsonl" | python -c "import json,sys; print(json.loads(sys.stdin.read())['step'])"; }
stage="${1:-all}"
if [ "$stage" = all ] || [ "$stage" = ours ]; then
  wait_idle
  rm -rf runs/final/probe_pre runs/final/probe_adv
  log "probe_pre start"
  fusionrs train translator $OURS --adv-start 0.3 --steps 100000 --max-minutes 1 --checkpoint-every 0 --sample-every 0 --out runs/final/probe_pre > runs/final/probe_pre.out 2>&1
  log "probe_adv start"
  fusionrs train translator $OURS --adv-start 0 --steps 100000 --max-minutes 1 --checkpoint-every 0 --sample-every 0 --out runs/final/probe_adv > runs/final/probe_adv.out 2>&1
  R_PRE=$(last_step runs/final/probe_pre); R_ADV=$(last_step runs/final/probe_adv)
  S45=$(python -c "import math; print(math.floor(0.95*45/(0.3/$R_PRE+0.7/$R_ADV)))")
  log "probes r_pre=$R_PRE r_adv=$R_ADV steps/min -> S45=$S45; ours start"
  fusionrs train translator $OURS --adv-start 0.3 --steps $S45 --max-minutes 45 --checkpoint-every 500 --out runs/final/ours > runs/final/ours.out 2>&1 &
  PID=$!; cpu_sample $PID runs/final/ours_cpu.txt & wait $PID
  log "ours done rc $? last step $(last_step runs/final/ours) cpu-s $(tail -1 runs/final/ours_cpu.txt | cut -d' ' -f2)"
fi
if [ "$stage" = all ] || [ "$stage" = pix2pix ]; then
  wait_idle
  rm -rf runs/final/probe_pix2pix
  log "probe_pix2pix start"
  python benchmarks/pix2pix.py train --pairs $P --tune 11 --max-minutes 1 --checkpoint-every 0 --threads 2 --out runs/final/probe_pix2pix > runs/final/probe_pix2pix.out 2>&1
  SPS=$(python -c "import json; print(json.load(open('runs/final/probe_pix2pix/train_summary.json'))['seconds_per_step_this_run'])")
  E=$(python -c "import math; s=math.floor(0.95*45*60/$SPS); print(max(1, s//120//2))")
  log "probe_pix2pix s_per_step=$SPS -> E=$E; pix2pix start"
  python benchmarks/pix2pix.py train --pairs $P --tune 11 --n-epochs $E --n-epochs-decay $E --max-minutes 45 --checkpoint-every 500 --threads 2 --seed 0 --out runs/final/pix2pix > runs/final/pix2pix.out 2>&1 &
  PID=$!; cpu_sample $PID runs/final/pix2pix_cpu.txt & wait $PID
  log "pix2pix done rc $? cpu-s $(tail -1 runs/final/pix2pix_cpu.txt | cut -d' ' -f2)"
fi
if [ "$stage" = all ] || [ "$stage" = score ]; then
  log "scoring start"
  fusionrs eval translator --model runs/final/ours/final --pairs $P --json runs/final/eval_ours_validation.json --sheet runs/final/ours_validation.png > runs/final/eval_ours.out 2>&1
  python benchmarks/pix2pix.py predict --model runs/final/pix2pix/final --pairs $P --split validation --out runs/final/pix2pix_pred_validation > runs/final/pred_pix2pix.out 2>&1
  fusionrs eval translator --predictions runs/final/pix2pix_pred_validation --pairs $P --json runs/final/eval_pix2pix_validation.json --sheet runs/final/pix2pix_validation.png > runs/final/eval_pix2pix.out 2>&1
  fusionrs eval translator --model runs/final/ours/final --pairs $AOS --linear-from $P --json runs/final/eval_ours_aos.json > runs/final/eval_ours_aos.out 2>&1
  python benchmarks/pix2pix.py predict --model runs/final/pix2pix/final --pairs $AOS --out runs/final/pix2pix_pred_aos > runs/final/pred_pix2pix_aos.out 2>&1
  fusionrs eval translator --predictions runs/final/pix2pix_pred_aos --pairs $AOS --linear-from $P --json runs/final/eval_pix2pix_aos.json > runs/final/eval_pix2pix_aos.out 2>&1
  log "scoring done"
fi

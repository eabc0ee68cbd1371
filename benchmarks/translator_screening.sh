#!/bin/bash
# Screening of issue 16 per benchmarks/translator_plan.md: probe 1 min -> S -> 10-min run -> eval on the screening split.
cd "$(dirname "$0")/.."
mkdir -p runs/screen
source .venv/bin/activate
export HF_HUB_OFFLINE=1
P=../shared/data/rgbt_pairs/roadscene
COMMON="--pairs $P --world 60 --world-weight 0.2 --adv-start 0.3 --tune 31 --batch-size 6 --crop 128 --threads 2 --seed 0"
declare -A EXTRA
EXTRA[S1]="--preset base"
EXTRA[S2]="--preset base --domain-thermal ../shared/data/hit_uav --domain-rgb ../shared/data/rsicd_aid --domain-images 400 --domain-weight 0.01"
EXTRA[S3]="--preset base --grad 2.0"
for ID in "$@"; do
  if [ "$ID" = S0 ]; then
    S=850
  else
    rm -rf runs/screen/probe_$ID
    echo "$(date -u +%H:%M) probe $ID load $(cut -d' ' -f1-3 /proc/loadavg)" >> runs/screen/log.txt
    fusionrs train translator ${EXTRA[$ID]} $COMMON --steps 100000 --max-minutes 1 --checkpoint-every 0 --sample-every 0 --out runs/screen/probe_$ID > runs/screen/probe_$ID.out 2>&1
    LAST=$(tail -1 runs/screen/probe_$ID/log.jsonl | python -c "import json,sys; print(json.loads(sys.stdin.read())['step'])")
    S=$(python -c "print(int(0.95*10*$LAST))")
  fi
  EX=${EXTRA[$ID]:-"--preset base"}
  echo "$(date -u +%H:%M) run $ID steps $S load_before $(cut -d' ' -f1-3 /proc/loadavg)" >> runs/screen/log.txt
  fusionrs train translator $EX $COMMON --steps $S --max-minutes 10 --out runs/screen/$ID > runs/screen/$ID.out 2>&1
  echo "$(date -u +%H:%M) done $ID rc $? load_after $(cut -d' ' -f1-3 /proc/loadavg)" >> runs/screen/log.txt
  fusionrs eval translator --model runs/screen/$ID/final --pairs $P --split screening --json runs/screen/$ID/eval_screening.json > runs/screen/eval_$ID.out 2>&1
  echo "$(date -u +%H:%M) eval $ID rc $?" >> runs/screen/log.txt
done

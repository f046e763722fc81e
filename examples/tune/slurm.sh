#!/usr/bin/env bash
# A `recede tune` sweep on a Slurm cluster, one array job per generation.
#
#   bash examples/tune/slurm.sh configs/tune_quadrotor.toml 200 8
#
# (tuning file, evaluations, shards). Every generation of CMA-ES is a fixed
# batch derived from the seed and the results of the generations before it,
# so each array task evaluates its share of the same batch (recede tune reads
# it from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT: no --shard needed);
# `recede tune merge` then folds the shards into tune-out/merged.jsonl and the
# next generation starts from it. The last step, on one node, evaluates the
# start/compare points and the held-out seeds of the best candidates and
# writes the report. Nothing but a shared directory is needed.
set -euo pipefail
TUNE=${1:?tuning file}
EVALS=${2:-200}
SHARDS=${3:-8}
SEED=${SEED:-0}
OUT=${OUT:-tune-out/$(basename "$TUNE" .toml)}
mkdir -p "$OUT/shards"
MERGED="$OUT/merged.jsonl"

# Generations: ceil(evaluations / population); a sweep's tuning file sets
# [search] population (a multiple of the shard count keeps every task busy).
POP=$(sed -n 's/^population *= *\([0-9]*\).*/\1/p' "$TUNE" | head -1)
: "${POP:?set [search] population in $TUNE for a sweep}"
GENERATIONS=$(( (EVALS + POP - 1) / POP ))

for ((g = 0; g < GENERATIONS; g++)); do
    FROM=()
    [ -s "$MERGED" ] && FROM=(--from "$MERGED")
    # One array job per generation; --wait returns when all its tasks end.
    sbatch --wait --array=0-$((SHARDS - 1)) --cpus-per-task=2 --time=00:30:00 \
        --job-name="tune-g$g" --output="$OUT/shards/g$g-%a.log" \
        --wrap "recede tune '$TUNE' --evaluations $EVALS --seed $SEED --jobs 2 --quiet \
                ${FROM[*]} \
                --results '$OUT/shards/g$g-'\$SLURM_ARRAY_TASK_ID'.jsonl'"
    INPUTS=("$OUT"/shards/g"$g"-*.jsonl)
    [ -s "$MERGED" ] && INPUTS+=("$MERGED")
    recede tune merge "$MERGED" "${INPUTS[@]}"
done

# Start/compare points, held-out evaluations of the best, the report.
srun --cpus-per-task=2 recede tune "$TUNE" --evaluations "$EVALS" --seed "$SEED" \
    --resume --results "$MERGED" --out "$OUT" --json

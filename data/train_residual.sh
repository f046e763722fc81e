#!/usr/bin/env bash
# Trains a shipped residual with the project's own pipeline, bit for bit:
# the training flights configs/train/PREFIX*.toml flown by `recede run
# --log-data` (lockstep, seeded), then `recede train` with RESIDUAL (seeded),
# written to data/NAME/model.safetensors and data/NAME/training.json. What
# each data/*/regenerate.sh runs.
#   bash data/train_residual.sh PREFIX RESIDUAL NAME LOG_TARGET SUMMARY_KEY
# LOG_TARGET: control_period or plant_step (`recede run --log-target`);
# SUMMARY_KEY: the summary figure printed per flight.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 PREFIX RESIDUAL NAME LOG_TARGET SUMMARY_KEY" >&2; exit 2; }
prefix=$1 residual=$2 name=$3 target=$4 key=$5
cd "$(dirname "$0")/.."
export LC_ALL=C
cargo build --release --quiet --bin recede
recede=target/release/recede
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for flight in configs/train/"$prefix"*.toml; do
    flown=$(basename "$flight" .toml)
    # Exit 1 (goal missed) still logs the flight; 2 is an error.
    status=0
    "$recede" run "$flight" --no-rrd --json --log-data "$logs/$flown.arrow" --log-target "$target" \
        >"$logs/$flown.json" || status=$?
    [ "$status" -le 1 ] || exit "$status"
    echo "$flown: $(grep -o "\"$key\":[^,]*" "$logs/$flown.json")" >&2
done
"$recede" train --data "$logs"/"$prefix"*.arrow --model "$residual" \
    --out "data/$name/model.safetensors" >"data/$name/training.json"
sha256sum "data/$name/model.safetensors"

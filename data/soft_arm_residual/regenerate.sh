#!/usr/bin/env bash
# Regenerates the continuum arm's residual (model.safetensors, training.json)
# with the project's own pipeline, bit for bit: the training flights of
# configs/train/soft_arm_* flown by `recede run --log-data --log-target
# plant_step` (lockstep, seeded), then
# `recede train` with configs/residual_soft_arm.toml (seeded).
#   bash data/soft_arm_residual/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C
cargo build --release --quiet --bin recede
recede=target/release/recede
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for flight in configs/train/soft_arm_*.toml; do
    name=$(basename "$flight" .toml)
    # Exit 1 (goal missed) still logs the flight; 2 is an error.
    status=0
    "$recede" run "$flight" --no-rrd --json --log-data "$logs/$name.arrow" --log-target plant_step \
        >"$logs/$name.json" || status=$?
    [ "$status" -le 1 ] || exit "$status"
    echo "$name: $(grep -o '"goal_reached":[^,]*' "$logs/$name.json")" >&2
done
"$recede" train --data "$logs"/soft_arm_*.arrow --model configs/residual_soft_arm.toml \
    --out data/soft_arm_residual/model.safetensors >data/soft_arm_residual/training.json
sha256sum data/soft_arm_residual/model.safetensors

#!/usr/bin/env bash
# Regenerates the soft cart-pole's residual (model.safetensors,
# training.json) bit for bit: configs/train/soft_cartpole_* flown with
# control-period logs, then `recede train` with
# configs/residual_soft_cartpole.toml (data/train_residual.sh).
#   bash data/soft_cartpole_residual/regenerate.sh
exec bash "$(dirname "$0")/../train_residual.sh" soft_cartpole_ configs/residual_soft_cartpole.toml \
    soft_cartpole_residual control_period goal_reached

#!/usr/bin/env bash
# Regenerates the continuum arm's residual (model.safetensors, training.json)
# bit for bit: configs/train/soft_arm_* flown with plant-step logs, then
# `recede train` with configs/residual_soft_arm.toml (data/train_residual.sh).
#   bash data/soft_arm_residual/regenerate.sh
exec bash "$(dirname "$0")/../train_residual.sh" soft_arm_ configs/residual_soft_arm.toml \
    soft_arm_residual plant_step goal_reached

#!/usr/bin/env bash
# Regenerates the flagship's residual (model.safetensors, training.json) bit
# for bit: configs/train/quadrotor_* flown with control-period logs, then
# `recede train` with configs/residual_flagship.toml (data/train_residual.sh).
#   bash data/flagship_residual/regenerate.sh
exec bash "$(dirname "$0")/../train_residual.sh" quadrotor_ configs/residual_flagship.toml \
    flagship_residual control_period tracking_rmse_m

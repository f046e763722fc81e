"""A parameter sweep into a pandas DataFrame, with a plot: the cart-pole's
swing-up for a grid of horizons and pole-angle weights, each run with the
`--set` overrides of recede.run (threads share the work: runs release the
GIL).

    python examples/python/sweep.py [configs/cartpole.toml] [out/sweep.png]
"""

from __future__ import annotations

import itertools
import sys
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

import recede


def sweep(scenario: str, horizons=(20, 30, 40), angle_weights=(10.0, 100.0, 1000.0)) -> pd.DataFrame:
    def one(point):
        horizon, weight = point
        s = recede.run(
            scenario,
            overrides={
                "controller.horizon_steps": horizon,
                "controller.state_weights[1]": weight,
            },
        )
        return {
            "horizon_steps": horizon,
            "angle_weight": weight,
            "goal_reached": s["goal_reached"],
            "angle_rmse_rad": s["state_rmse"][1],
            "control_effort": s["control_effort"],
            "step_us_median": s["step_us"]["median"],
            "fallbacks": s["fallbacks"],
        }

    with ThreadPoolExecutor() as pool:
        rows = list(pool.map(one, itertools.product(horizons, angle_weights)))
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for weight, group in df.groupby("angle_weight"):
        ax.plot(group["horizon_steps"], group["angle_rmse_rad"], marker="o", label=f"angle weight {weight:g}")
    ax.set_xlabel("horizon (steps)")
    ax.set_ylabel("pole angle RMSE (rad)")
    ax.set_title("cart-pole swing-up")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    scenario = sys.argv[1] if len(sys.argv) > 1 else "configs/cartpole.toml"
    out = sys.argv[2] if len(sys.argv) > 2 else "out/sweep.png"
    df = sweep(scenario)
    print(df.to_string(index=False))
    import os

    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    plot(df, out)
    print(f"plot {out}")

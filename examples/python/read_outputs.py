"""Reading what a run leaves behind: its transition log (pyarrow/pandas)
and its rerun recording.

    python examples/python/read_outputs.py [configs/quadrotor_figure8.toml]

The log is an Arrow IPC stream with one row per control step of the true
plant; recede.load_log names the columns after the robot's states and
inputs with their SI units (x_px_m, x_qw, u_f0_N, x_next_vx_m_s, ...). The recording (.rrd) opens in
the rerun viewer (`rerun out/read_outputs.rrd`); with the `rerun-sdk`
package installed it is also read here as a dataframe.
"""

from __future__ import annotations

import os
import sys

import recede


def main(scenario: str, out: str = "out") -> None:
    os.makedirs(out, exist_ok=True)
    log, rrd = os.path.join(out, "read_outputs.arrows"), os.path.join(out, "read_outputs.rrd")
    summary = recede.run(scenario, duration=2.0, log=log, record=rrd)
    print(f"{summary['scenario']}: {summary['control_steps']} steps, goal reached {summary['goal_reached']}")

    df = recede.load_log(log).to_pandas()
    print(df.filter(regex="^(t_secs|x_|u_)").head().to_string())
    # How far one period's nominal prediction is from the true next state.
    states = [c[len("x_next_"):] for c in df.columns if c.startswith("x_next_")]
    error = {s: (df[f"x_next_{s}"] - df[f"nominal_next_{s}"]).abs().max() for s in states}
    print("largest one-step prediction error per state:", error)

    print(f"recording {rrd}: {os.path.getsize(rrd)} bytes (open it with `rerun {rrd}`)")
    try:
        import rerun as rr  # optional: pip install rerun-sdk
    except ImportError:
        return
    recording = rr.dataframe.load_recording(rrd)
    print("entities:", [str(c.entity_path) for c in recording.schema().component_columns()][:10])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "configs/quadrotor_figure8.toml")

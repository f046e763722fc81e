"""recede.Controller: built from scenario files, stepped on numpy arrays."""

import math

import numpy as np
import pytest

import recede


def test_p1_swing_up_matches_the_benchmark(repo):
    # The example's numpy plant and loop give `recede bench p1`'s cost.
    import json

    from p1_swing_up import closed_loop

    result = closed_loop(repo / "configs" / "bench" / "p1.toml")
    bench = json.loads(recede._recede.bench_p1_json())
    assert result["success"] and bench["success"], result
    assert abs(result["cost"] - bench["closed_loop_cost"]) <= 1e-9 * bench["closed_loop_cost"]
    assert result["final_state"] == pytest.approx(bench["final_state"], rel=1e-9, abs=1e-12)
    # docs/benchmarks.md: 123971.2 with QPs solved exactly.
    assert abs(result["cost"] - 123971.2) / 123971.2 < 0.02
    assert result["fallbacks"] == 0


def test_step_report_plan_and_dimensions(repo):
    c = recede.Controller.from_toml(repo / "configs" / "bench" / "p1.toml")
    assert c.dimensions == {"states": 4, "inputs": 1, "horizon": 40}
    assert c.state_names == ["p", "theta", "v", "omega"]
    assert math.isclose(c.period_secs, 0.02)
    u = c.step(0.0, np.array([0.0, math.pi, 0.0, 0.0]))
    assert u.shape == (1,) and u.dtype == np.float64 and abs(u[0]) <= 80.0 + 1e-6
    r = c.report
    assert r["outcome"] == "Solved" and r["qp_iterations"] > 0
    assert r["feedback_secs"] > 0 and r["prepare_secs"] > 0
    xs, us = c.predicted()
    assert xs.shape == (41, 4) and us.shape == (40, 1)
    # A list works as well as an array.
    c.step(0.02, [0.0, math.pi, 0.0, 0.0])


def test_reference_window_weights_and_bounds_without_rebuilding(repo):
    def fresh():
        return recede.Controller.from_toml(repo / "configs" / "bench" / "p1.toml", x0=[0.0] * 4)

    x = np.zeros(4)
    # A set point 1 m to the right of the balanced pole, as a vector or as
    # an (N+1, nx) window: the same command.
    right = fresh().step(0.0, x, x_ref=np.array([1.0, 0.0, 0.0, 0.0]))
    assert fresh().step(0.0, x, x_ref=np.tile([1.0, 0.0, 0.0, 0.0], (41, 1)))[0] == right[0]
    # The cart-pole is symmetric in p: 1 m to the left mirrors the command.
    left = fresh().step(0.0, x, x_ref=[-1.0, 0.0, 0.0, 0.0])
    assert left[0] == pytest.approx(-right[0], rel=1e-6) and abs(right[0]) > 1.0
    c = fresh()
    c.set_input_bounds(lower=[-2.0], upper=[3.0])
    assert c.input_bounds == ([-2.0], [3.0])
    c.reset(x)
    assert -2.0 - 1e-6 <= c.step(0.0, x, x_ref=[5.0, 0, 0, 0])[0] <= 3.0 + 1e-6
    c.set_weights(input=[5.0])
    assert c.weights["input"] == [5.0] and c.weights["state"][0] == 1e3
    with pytest.raises(recede.RecedeError, match="state_weights"):
        c.set_weights(state=[-1.0, 1.0, 1.0, 1.0])
    with pytest.raises(recede.RecedeError, match="x_ref"):
        c.step(0.0, x, x_ref=np.zeros((3, 4)))
    with pytest.raises(recede.RecedeError, match="state: expected 4 values, got 3"):
        c.step(0.0, np.zeros(3))


def test_errors_name_the_file_and_key(repo, tmp_path):
    bad = tmp_path / "bad.toml"
    text = (repo / "configs" / "bench" / "p1.toml").read_text()
    bad.write_text(text.replace("horizon_steps = 40", "horizon_stepz = 40"))
    with pytest.raises(recede.RecedeError, match=r"(?s)bad\.toml.*horizon_stepz"):
        recede.Controller.from_toml(bad)
    with pytest.raises(recede.RecedeError, match="no such file"):
        recede.Controller.from_toml(tmp_path / "missing.toml")
    # TOML text works too.
    c = recede.Controller.from_toml(text)
    assert c.dimensions["horizon"] == 40
    # A non-finite state is a counted fallback, not an exception.
    u = c.step(0.0, [math.nan, 0.0, 0.0, 0.0])
    assert np.all(np.isfinite(u)) and c.report["outcome"] != "Solved"
    assert sum(c.fallbacks.values()) >= 1


def test_model_file_and_urdf_robots_resolve_against_the_scenario(repo):
    # A path: the model file is taken from the scenario's directory.
    c = recede.Controller.from_toml(repo / "configs" / "vtol_model_file.toml")
    assert c.dimensions["states"] == 6 and c.dimensions["inputs"] == 2
    u = c.step(0.0, np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]))
    assert np.all(np.isfinite(u))
    # TOML text: from the base the caller gives.
    text = (repo / "configs" / "arm6_urdf.toml").read_text()
    arm = recede.Controller.from_toml(text, base_dir=repo / "configs")
    assert arm.dimensions["states"] == 12 and arm.dimensions["inputs"] == 6
    u = arm.step(0.0, np.zeros(12))
    assert np.all(np.abs(u) <= np.array([80.0, 80.0, 40.0, 10.0, 10.0, 5.0]) + 1e-9)
    # Without one, the working directory's models/arm6.urdf (absent here).
    with pytest.raises(Exception, match="models/arm6.urdf"):
        recede.Controller.from_toml(text, base_dir=repo / "python")

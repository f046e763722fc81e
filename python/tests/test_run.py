"""recede.run / recede.check with overrides (the `--set` machinery)."""

import threading

import pytest

import recede


def test_run_returns_the_summary_and_overrides_apply(repo):
    p1 = repo / "configs" / "bench" / "p1.toml"
    s = recede.run(p1, duration=1.0)
    assert s["scenario"] == "p1" and s["robot"] == "cart_pole"
    assert s["control_steps"] == 50 and s["sim_secs"] == pytest.approx(1.0)
    short = recede.run(p1, overrides={"controller.horizon_steps": 20}, duration=1.0)
    assert short["final_state"] != s["final_state"]
    again = recede.run(p1, overrides={"controller.horizon_steps": 20}, duration=1.0)
    assert again["final_state"] == short["final_state"]  # lockstep: bit for bit


def test_check_and_errors_name_the_key_and_origin(repo):
    p1 = repo / "configs" / "bench" / "p1.toml"
    info = recede.check(p1)
    assert info["robot"] == "cart_pole" and info["states"] == 4
    assert recede.check(p1, {"scenario.initial_state": [0.0, 3.0, 0.0, 0.0]})["name"] == "p1"
    with pytest.raises(recede.RecedeError, match=r"(?s)overrides controller.horizon_stepz=3: .*unknown field `horizon_stepz`"):
        recede.check(p1, {"controller.horizon_stepz": 3})
    with pytest.raises(recede.RecedeError, match="plant_rate_hz"):
        recede.run(p1, overrides={"scenario.plant_rate_hz": -1.0})
    with pytest.raises(recede.RecedeError, match="cannot read scenario file"):
        recede.run(repo / "nope.toml")


def test_runs_release_the_gil(repo):
    p1 = repo / "configs" / "bench" / "p1.toml"
    results = {}

    def work(seed):
        results[seed] = recede.run(p1, duration=0.5, seed=seed)["control_steps"]

    threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: 25, 1: 25, 2: 25}

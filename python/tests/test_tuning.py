"""Optuna workers on one journal-file study: every trial once."""

import json

import pytest

import recede
from recede.tuning import start_params

optuna = pytest.importorskip("optuna")

TUNE = """
[[parameters]]
name = "angle weight"
key = "controller.state_weights[1]"
range = [1e1, 1e4]
scale = "log"

[[parameters]]
name = "horizon"
key = "controller.horizon_steps"
range = [15, 40]
integer = true

[[scenarios]]
path = "{scenario}"
seeds = [1]
set = {{ "scenario.duration_secs" = 0.6 }}

[heldout]
seeds = [2]

[objective]
weights = {{ "state_rmse[1]" = 1.0 }}
"""


@pytest.fixture
def tune_file(repo, tmp_path):
    path = tmp_path / "tune.toml"
    path.write_text(TUNE.format(scenario=repo / "configs" / "cartpole.toml"))
    return path


def test_a_tuning_file_evaluates_as_recede_tune_does(tune_file):
    tune = recede.Tune.load(tune_file)
    names = [p["name"] for p in tune.parameters]
    assert names == ["angle weight", "horizon"]
    assert tune.parameters[0]["log"] and tune.parameters[1]["integer"]
    start = start_params(tune)
    value, failure, runs = tune.evaluate([start["angle weight"], start["horizon"]])
    assert failure is None and len(runs) == 1 and runs[0]["cost"] == pytest.approx(value)
    # Same values, same objective (lockstep).
    assert tune.evaluate([start["angle weight"], start["horizon"]])[0] == value
    with pytest.raises(recede.RecedeError, match="expected 2 parameter values"):
        tune.evaluate([1.0])


def test_two_workers_share_one_study_without_losing_a_trial(tune_file, tmp_path):
    from optuna_tune import main

    journal = tmp_path / "study.journal"
    records = tmp_path / "records"
    records.mkdir()
    trials = 8
    study = main([str(tune_file), "--storage", str(journal), "--trials", str(trials),
                  "--workers", "2", "--record-dir", str(records)])
    stored = study.trials
    assert len(stored) == trials
    assert sorted(t.number for t in stored) == list(range(trials))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in stored)
    ran = [json.loads(line) for f in sorted(records.iterdir()) for line in f.read_text().splitlines()]
    # Both workers took part, and every trial ran exactly once, its value stored.
    assert {f.name for f in records.iterdir()} == {"worker0.jsonl", "worker1.jsonl"}
    assert sorted(r["number"] for r in ran) == list(range(trials))
    by_number = {t.number: t for t in stored}
    for r in ran:
        assert by_number[r["number"]].value == r["value"]
        assert by_number[r["number"]].params == r["params"]
    # The first trial is the tuning file's start.
    assert by_number[0].params == start_params(tune_file)

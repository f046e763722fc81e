"""Tune a scenario with Optuna, on as many processes or machines as you
like: every worker shares one study through Optuna's storage (a journal
file on a shared disk, or an RDB URL), and each trial is evaluated exactly
as `recede tune` evaluates a candidate (the tuning file's scenarios, seeds,
randomisation and objective).

    python examples/python/optuna_tune.py configs/tune_cartpole.toml \
        --storage tune-out/optuna.journal --trials 40 --workers 2

On a cluster, start the same command (with --workers 1 and a share of the
trials) on every node; `--storage sqlite:///...` or `postgresql://...`
selects an RDB instead of the journal file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys

import optuna

import recede
from recede.tuning import objective, start_params


def storage_of(url: str):
    if "://" in url:
        return url
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(url))


def worker(tune_file: str, storage: str, study_name: str, trials: int, seed: int, record: str | None) -> None:
    """One worker: `trials` trials of the shared study; with `record`, the
    numbers and values of the trials it ran go there (one JSON per line)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=storage_of(storage),
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    evaluate = objective(tune_file)

    def recorded(trial):
        value = evaluate(trial)
        if record:
            with open(record, "a") as f:
                f.write(json.dumps({"number": trial.number, "value": value, "params": trial.params}) + "\n")
        return value

    study.optimize(recorded, n_trials=trials)


def main(argv=None) -> optuna.Study:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tune_file")
    p.add_argument("--storage", default="tune-out/optuna.journal", help="journal file or RDB URL")
    p.add_argument("--study", default=None, help="study name (the tuning file's stem)")
    p.add_argument("--trials", type=int, default=40, help="trials in all, shared by the workers")
    p.add_argument("--workers", type=int, default=2, help="worker processes on this machine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record-dir", default=None, help="each worker logs its trials here")
    args = p.parse_args(argv)
    name = args.study or os.path.splitext(os.path.basename(args.tune_file))[0]
    if "://" not in args.storage:
        os.makedirs(os.path.dirname(os.path.abspath(args.storage)), exist_ok=True)
    study = optuna.create_study(
        study_name=name, storage=storage_of(args.storage), direction="minimize", load_if_exists=True
    )
    if not study.trials:
        # The tuning file's starting values are the first trial.
        study.enqueue_trial(start_params(args.tune_file))
    shares = [args.trials // args.workers + (i < args.trials % args.workers) for i in range(args.workers)]
    context = multiprocessing.get_context("spawn")
    processes = []
    for i, share in enumerate(shares):
        record = os.path.join(args.record_dir, f"worker{i}.jsonl") if args.record_dir else None
        proc = context.Process(
            target=worker, args=(args.tune_file, args.storage, name, share, args.seed + i, record)
        )
        proc.start()
        processes.append(proc)
    for proc in processes:
        proc.join()
    failed = [i for i, proc in enumerate(processes) if proc.exitcode != 0]
    if failed:
        raise SystemExit(f"workers {failed} failed")
    study = optuna.load_study(study_name=name, storage=storage_of(args.storage))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(f"{len(done)} trials complete; best {study.best_value:.5f} with {study.best_params}")
    return study


if __name__ == "__main__":
    main(sys.argv[1:])

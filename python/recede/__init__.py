"""recede from Python: the controller on numpy arrays, scenario runs and
checks, transition logs as Arrow tables, and tuning files as Optuna
objectives.

The heavy lifting is in the Rust extension ``recede._recede``; this module
adds the conveniences (summaries as dicts, logs as pyarrow tables).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Union

from ._recede import Controller, RecedeError, Tune, __version__
from . import _recede

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "Controller",
    "RecedeError",
    "Tune",
    "check",
    "load_log",
    "run",
    "__version__",
]


def run(
    scenario: PathLike,
    overrides: Optional[Mapping[str, Any]] = None,
    seed: Optional[int] = None,
    duration: Optional[float] = None,
    record: Optional[PathLike] = None,
    log: Optional[PathLike] = None,
) -> dict:
    """Run a scenario file in lockstep and return its summary as a dict.

    ``overrides`` maps key paths to values exactly like ``recede run --set``
    (``{"controller.horizon_steps": 30, "scenario.initial_state[1]": 3.0}``);
    a key the scenario does not know raises :class:`RecedeError` naming it.
    ``seed`` and ``duration`` replace the scenario's; ``record`` writes a
    rerun recording (.rrd) there, ``log`` the transition log (Arrow IPC,
    read it with :func:`load_log`). The GIL is released during the run, so
    threads run scenarios in parallel.
    """
    text = _recede.run_json(
        os.fspath(scenario),
        overrides=dict(overrides) if overrides else None,
        seed=seed,
        duration=duration,
        record=None if record is None else os.fspath(record),
        log=None if log is None else os.fspath(log),
    )
    return json.loads(text)


def check(scenario: PathLike, overrides: Optional[Mapping[str, Any]] = None) -> dict:
    """Check a scenario file as ``recede check`` does (with ``overrides`` as
    ``--set``); returns its name, robot, sizes and timing, or raises
    :class:`RecedeError` with the file and key."""
    return _recede.check(os.fspath(scenario), dict(overrides) if overrides else None)


def load_log(path: PathLike, names: bool = True):
    """Read a transition log (``recede run --log-data``, ``run(log=...)``)
    as a ``pyarrow.Table``; ``.to_pandas()`` gives a DataFrame.

    Every row is one control step of the true (simulated) plant: ``t_secs``,
    ``dt_secs``, the state ``x_*``, the command ``u_*``, the true state one
    period later ``x_next_*``, the nominal model's prediction of it
    ``nominal_next_*`` and the residual ``target_*`` (a rate: the state's
    unit per second). With ``names`` the index suffixes become the robot's
    component names and SI units (``x_px_m``, ``x_next_qw``, ``u_f0_N``,
    ``target_vx_m_s2``); every field keeps its ``name`` and ``unit`` in its
    metadata, and the file's (robot, sizes, format) stays on the schema.
    Logs written before units were stored get the names without units.
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with pa.OSFile(os.fspath(path), "rb") as f:
        try:
            table = ipc.open_stream(f).read_all()
        except pa.ArrowInvalid:
            f.seek(0)
            table = ipc.open_file(f).read_all()
    if not names:
        return table
    labels = [(f.metadata or {}).get(b"label") for f in table.schema]
    if all(labels):
        # Renamed fields keep their own metadata (name, unit) and the
        # schema keeps the file's.
        schema = pa.schema([f.with_name(l.decode()) for f, l in zip(table.schema, labels)],
                           metadata=table.schema.metadata)
        return pa.Table.from_arrays(table.columns, schema=schema)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    robot = meta.get("robot")
    if robot is None:
        return table
    states, inputs = _recede.robot_names(robot)
    groups = {"x": states, "x_next": states, "nominal_next": states, "target": states,
              "xdot_true": states, "true_residual": states, "u": inputs}
    renamed = []
    for column in table.column_names:
        prefix, _, index = column.rpartition("_")
        if prefix in groups and index.isdigit() and int(index) < len(groups[prefix]):
            renamed.append(f"{prefix}_{groups[prefix][int(index)]}")
        else:
            renamed.append(column)
    return table.rename_columns(renamed).replace_schema_metadata(table.schema.metadata)

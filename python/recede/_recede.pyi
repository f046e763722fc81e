"""Type stubs of the Rust extension ``recede._recede``."""

from typing import Any, Optional, Sequence, Tuple, Union
import os

import numpy as np
import numpy.typing as npt

__version__: str

class RecedeError(Exception):
    """A scenario, tuning file, argument or run that recede rejects; the
    message names the file and the key."""

class Controller:
    """A model-predictive controller built from a scenario file's
    ``[robot]`` and ``[controller]`` tables."""

    @staticmethod
    def from_toml(
        path_or_text: Union[str, os.PathLike[str]],
        residual: Optional[Union[str, os.PathLike[str]]] = None,
        x0: Optional[Sequence[float]] = None,
    ) -> Controller:
        """Build from a file (or TOML text). ``residual``: a learned residual
        model file replacing ``[controller.residual] model``. ``x0``: the
        state the first plan starts from (``[scenario] initial_state`` by
        default). The file's ``[reference]``, when present, is tracked at
        the ``t`` given to :meth:`step`."""
    def step(
        self,
        t: float,
        x: npt.ArrayLike,
        x_ref: Optional[npt.ArrayLike] = None,
        u_ref: Optional[npt.ArrayLike] = None,
    ) -> npt.NDArray[np.float64]:
        """One control step at time ``t`` (s) from state ``x``; returns the
        command. ``x_ref`` (nx,) or (N+1, nx) and ``u_ref`` (nu,) or (N, nu)
        set the reference window first (see :meth:`set_reference`)."""
    @property
    def report(self) -> dict[str, Any]:
        """The last step: outcome, failure, qp_status, qp_iterations,
        sqp_iterations, feedback_secs, prepare_secs, osqp_solve_secs, ..."""
    def predicted(self) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The plan: states (N+1, nx) and inputs (N, nu)."""
    def set_reference(
        self, x_ref: Optional[npt.ArrayLike] = None, u_ref: Optional[npt.ArrayLike] = None
    ) -> None:
        """Set the reference window; from then on the file's ``[reference]``
        is no longer tracked."""
    def set_weights(
        self,
        state: Optional[Sequence[float]] = None,
        input: Optional[Sequence[float]] = None,
        terminal: Optional[Sequence[float]] = None,
    ) -> None:
        """Replace diagonal cost weights (None keeps one); no rebuild."""
    @property
    def weights(self) -> dict[str, list[float]]: ...
    def set_input_bounds(
        self, lower: Optional[Sequence[float]] = None, upper: Optional[Sequence[float]] = None
    ) -> None:
        """Replace the input bounds (-inf/inf for none); no rebuild."""
    @property
    def input_bounds(self) -> Tuple[list[float], list[float]]: ...
    def reset(self, x: Sequence[float]) -> None:
        """Forget the plan and restart from state ``x``."""
    @property
    def dimensions(self) -> dict[str, int]:
        """{"states": nx, "inputs": nu, "horizon": N}."""
    @property
    def state_names(self) -> list[str]: ...
    @property
    def input_names(self) -> list[str]: ...
    @property
    def period_secs(self) -> float: ...
    @property
    def fallbacks(self) -> dict[str, int]:
        """Fallbacks since the controller was built, by kind."""

class Tune:
    """A tuning file (docs/tuning.md), evaluated as ``recede tune`` does."""

    @staticmethod
    def load(path: Union[str, os.PathLike[str]]) -> Tune: ...
    @property
    def parameters(self) -> list[dict[str, Any]]:
        """name, keys, low, high, log, integer, start of each parameter."""
    def evaluate(
        self, values: Sequence[float], heldout: bool = False
    ) -> Tuple[float, Optional[str], list[dict[str, Any]]]:
        """(objective, failure, runs) of parameter values; the objective is
        infinite for a failed candidate."""

def run_json(
    scenario: Union[str, os.PathLike[str]],
    overrides: Optional[dict[str, Any]] = None,
    seed: Optional[int] = None,
    duration: Optional[float] = None,
    record: Optional[Union[str, os.PathLike[str]]] = None,
    log: Optional[Union[str, os.PathLike[str]]] = None,
) -> str: ...
def check(
    scenario: Union[str, os.PathLike[str]], overrides: Optional[dict[str, Any]] = None
) -> dict[str, Any]: ...
def robot_names(kind: str) -> Tuple[list[str], list[str]]: ...

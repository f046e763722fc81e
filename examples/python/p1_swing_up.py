"""P1 of docs/benchmarks.md from Python: recede's controller swings the
cart-pole up, the plant is integrated here with numpy (classic RK4 at 2 ms,
ten steps per 20 ms control period), as `recede bench p1` runs it.

    python examples/python/p1_swing_up.py [configs/bench/p1.toml]

Prints the closed-loop cost, which equals `recede bench p1`'s `default`
line to 1e-9 relative (the same arithmetic in the same order), and how much
time the Python binding adds to a Rust step.
"""

from __future__ import annotations

import math
import pathlib
import sys
import time

import numpy as np

import recede

GRAVITY = 9.81
STEPS = 200
FORCE_LIMIT_N = 80.0


def cart_pole(cart_mass: float, pole_mass: float, length: float):
    """The cart-pole's derivative f(x, u), written as recede's model is
    (crates/model/src/robots/cartpole.rs), term for term."""
    big_m, m, l = cart_mass, pole_mass, length

    def f(x: np.ndarray, force: float) -> np.ndarray:
        theta, v, omega = x[1], x[2], x[3]
        s, co = math.sin(theta), math.cos(theta)
        d = co * co * (-m) + (big_m + m)
        w2 = omega * omega
        v_dot = (s * w2 * (-m * l) + co * s * (m * GRAVITY) + force) * (1.0 / d)
        omega_dot = (co * s * w2 * (-m * l) + force * co + s * ((big_m + m) * GRAVITY)) * (
            1.0 / (d * l)
        )
        return np.array([v, omega, v_dot, omega_dot])

    return f


def rk4(f, x: np.ndarray, u: float, h: float) -> np.ndarray:
    half, sixth = 0.5 * h, h / 6.0
    k1 = f(x, u)
    k2 = f(x + k1 * half, u)
    k3 = f(x + k2 * half, u)
    k4 = f(x + k3 * h, u)
    return x + (k1 + (k2 + k3) * 2.0 + k4) * sixth


def closed_loop(scenario: str | pathlib.Path) -> dict:
    """P1's 200 steps; returns the cost, success and timing."""
    import tomllib

    spec = tomllib.loads(pathlib.Path(scenario).read_text())
    robot, sc = spec["robot"], spec["scenario"]
    f = cart_pole(robot["cart_mass_kg"], robot["pole_mass_kg"], robot["pole_length_m"])
    controller = recede.Controller.from_toml(scenario)
    period = controller.period_secs
    h = 1.0 / sc["plant_rate_hz"]
    substeps = round(period / h)
    x = np.array(sc["initial_state"], dtype=float)
    cost, violations, overhead_us, rust_us = 0.0, 0, [], []
    for k in range(STEPS):
        t = k * period
        started = time.perf_counter()
        u = controller.step(t, x)
        wall = time.perf_counter() - started
        r = controller.report
        rust = r["feedback_secs"] + r["prepare_secs"]
        overhead_us.append((wall - rust) * 1e6)
        rust_us.append(rust * 1e6)
        violations += abs(u[0]) > FORCE_LIMIT_N + 1e-6
        cost += (
            1e3 * (x[0] * x[0] + x[1] * x[1])
            + 1e-2 * (x[2] * x[2] + x[3] * x[3])
            + 1e-2 * u[0] * u[0]
        )
        for _ in range(substeps):
            x = rk4(f, x, float(u[0]), h)
    return {
        "cost": float(cost),
        "success": bool(abs(x[1]) < 0.05 and abs(x[3]) < 0.1 and abs(x[0]) < 0.1),
        "final_state": x.tolist(),
        "bound_violations": int(violations),
        "fallbacks": sum(controller.fallbacks.values()),
        "step_us_median": float(np.median(rust_us)),
        "binding_overhead_us_median": float(np.median(overhead_us)),
    }


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "configs/bench/p1.toml"
    result = closed_loop(path)
    for key, value in result.items():
        print(f"{key:28} {value}")

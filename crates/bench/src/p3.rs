//! P3: linear MPC of OSQP's quadcopter example (QP only).
//!
//! Two closed loops over the same 100 steps from the example's x0:
//! - recede's controller (the linear model through the same SQP/condensing
//!   path as every robot), whose step is timed against OSQP's own solve
//!   time for the QP that step built (`ratio_median`);
//! - for scale, the example's own sparse QP in OSQP alone (variables x and
//!   u, dynamics as equality rows), timed as OSQP reports its solve.

use std::time::Instant;

use anyhow::{Context, Result};
use nalgebra::{SMatrix, SVector};
use osqp::{CscMatrix, Problem};
use recede_model::LinearModel;
use recede_mpc::{Mpc, MpcConfig, OsqpConfig, StateBoundConfig};
use serde::{Deserialize, Serialize};

use crate::{micros_since, IterationStats};
use recede_runner::stats::Percentiles;

pub const STEPS: usize = 100;
const NX: usize = 12;
const NU: usize = 4;

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct P3Data {
    Ad: Vec<Vec<f64>>,
    Bd: Vec<Vec<f64>>,
    umin: Vec<f64>,
    umax: Vec<f64>,
    xmin: Vec<Option<f64>>,
    xmax: Vec<Option<f64>>,
    Q: Vec<Vec<f64>>,
    QN: Vec<Vec<f64>>,
    R: Vec<Vec<f64>>,
    x0: Vec<f64>,
    xr: Vec<f64>,
    N: usize,
}

const DATA: &str = include_str!("../../../data/p3_quadcopter_lmpc.json");

#[derive(Debug, Clone, Serialize)]
pub struct P3Result {
    pub problem: &'static str,
    pub steps: usize,
    pub step_us: Percentiles,
    pub osqp_solve_us: Percentiles,
    pub ratio_median: f64,
    pub qp_iterations: IterationStats,
    pub fallbacks: usize,
    /// The example's sparse QP solved by OSQP alone, same loop.
    pub sparse_example_solve_us: Percentiles,
    pub sparse_example_iterations: IterationStats,
    /// Largest difference between the two loops' applied inputs.
    pub max_input_difference: f64,
}

fn matrix<const R: usize, const C: usize>(rows: &[Vec<f64>]) -> SMatrix<f64, R, C> {
    SMatrix::from_fn(|i, j| rows[i][j])
}

fn diagonal(rows: &[Vec<f64>], scale: f64) -> Vec<f64> {
    (0..rows.len()).map(|i| rows[i][i] * scale).collect()
}

fn load() -> Result<P3Data> {
    let d: P3Data = serde_json::from_str(DATA).context("P3 data")?;
    anyhow::ensure!(
        d.Ad.len() == NX && d.Bd.len() == NX && d.umin.len() == NU,
        "P3 data sizes"
    );
    for m in [&d.Q, &d.QN, &d.R] {
        for (i, row) in m.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                anyhow::ensure!(i == j || *v == 0.0, "P3 weights are expected diagonal");
            }
        }
    }
    Ok(d)
}

fn controller(d: &P3Data) -> Result<Mpc<LinearModel<NX, NU>, (), NX, NU>> {
    // The example's OSQP objective is 1/2 of the stated cost; recede's QP
    // objective is the cost itself, so halve the weights: same QP.
    let state_bounds = (0..NX)
        .filter(|&i| d.xmin[i].is_some() || d.xmax[i].is_some())
        .map(|i| StateBoundConfig {
            index: i,
            min: d.xmin[i],
            max: d.xmax[i],
            soft: None,
        })
        .collect();
    let config = MpcConfig {
        horizon_steps: d.N,
        dt_secs: 0.1,
        rk4_substeps: 1,
        period_secs: None,
        state_weights: diagonal(&d.Q, 0.5),
        terminal_weights: Some(diagonal(&d.QN, 0.5)),
        input_weights: diagonal(&d.R, 0.5),
        input_min: Some(d.umin.clone()),
        input_max: Some(d.umax.clone()),
        state_bounds,
        sqp_iterations: 1,
        osqp: OsqpConfig::osqp_defaults(),
        qp: Default::default(),
        fallback: Default::default(),
        governor: None,
    };
    let model = LinearModel {
        a: matrix::<NX, NX>(&d.Ad),
        b: matrix::<NX, NU>(&d.Bd),
        c: SVector::zeros(),
    };
    let x0 = SVector::from_column_slice(&d.x0);
    let mut mpc = Mpc::new(model, (), config.to_spec()?, &x0, &SVector::zeros())?;
    mpc.set_constant_reference(&SVector::from_column_slice(&d.xr), &SVector::zeros());
    Ok(mpc)
}

/// The example's QP exactly as its Python code builds it.
fn sparse_example(d: &P3Data) -> Result<Problem> {
    let n_steps = d.N;
    let nx_all = (n_steps + 1) * NX;
    let n = nx_all + n_steps * NU;
    let m = nx_all + n;
    let mut p = vec![vec![0.0; n]; n];
    let mut q = vec![0.0; n];
    for k in 0..=n_steps {
        let w = if k < n_steps { &d.Q } else { &d.QN };
        for i in 0..NX {
            p[k * NX + i][k * NX + i] = w[i][i];
            q[k * NX + i] = -w[i][i] * d.xr[i];
        }
    }
    for k in 0..n_steps {
        for i in 0..NU {
            p[nx_all + k * NU + i][nx_all + k * NU + i] = d.R[i][i];
        }
    }
    let mut a = vec![vec![0.0; n]; m];
    for k in 0..=n_steps {
        for i in 0..NX {
            a[k * NX + i][k * NX + i] = -1.0;
            if k > 0 {
                for j in 0..NX {
                    a[k * NX + i][(k - 1) * NX + j] = d.Ad[i][j];
                }
                for j in 0..NU {
                    a[k * NX + i][nx_all + (k - 1) * NU + j] = d.Bd[i][j];
                }
            }
        }
    }
    for i in 0..n {
        a[nx_all + i][i] = 1.0;
    }
    let inf = f64::INFINITY;
    let (mut l, mut u) = (vec![0.0; m], vec![0.0; m]);
    for i in 0..NX {
        l[i] = -d.x0[i];
        u[i] = -d.x0[i];
    }
    for k in 0..=n_steps {
        for i in 0..NX {
            l[nx_all + k * NX + i] = d.xmin[i].unwrap_or(-inf);
            u[nx_all + k * NX + i] = d.xmax[i].unwrap_or(inf);
        }
    }
    for k in 0..n_steps {
        for i in 0..NU {
            l[2 * nx_all + k * NU + i] = d.umin[i];
            u[2 * nx_all + k * NU + i] = d.umax[i];
        }
    }
    let p = CscMatrix::from_row_iter(n, n, p.into_iter().flatten()).into_upper_tri();
    let a = CscMatrix::from_row_iter(m, n, a.into_iter().flatten());
    let settings = osqp::Settings::default()
        .verbose(false)
        .polish(false)
        .warm_start(true);
    Problem::new(p, &q, a, &l, &u, &settings).map_err(|e| anyhow::anyhow!("OSQP setup: {e:?}"))
}

pub fn run() -> Result<P3Result> {
    let d = load()?;
    let ad = matrix::<NX, NX>(&d.Ad);
    let bd = matrix::<NX, NU>(&d.Bd);

    let mut mpc = controller(&d)?;
    let mut x = SVector::<f64, NX>::from_column_slice(&d.x0);
    let mut u = SVector::<f64, NU>::zeros();
    let (mut step, mut solve, mut iterations, mut fallbacks) = (vec![], vec![], vec![], 0);
    let mut applied = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        let started = Instant::now();
        let report = mpc.step(&x, 0.1, &mut u);
        step.push(micros_since(started));
        solve.push(report.osqp_solve_secs * 1e6);
        iterations.push(report.qp_iterations);
        fallbacks += usize::from(report.outcome.is_fallback());
        applied.push(u);
        x = ad * x + bd * u;
    }

    let mut example = sparse_example(&d)?;
    let nx_all = (d.N + 1) * NX;
    let mut x = SVector::<f64, NX>::from_column_slice(&d.x0);
    let (mut l, mut up) = (vec![0.0; 0], vec![0.0; 0]);
    let (mut ex_solve, mut ex_iterations, mut max_diff) = (vec![], vec![], 0.0f64);
    for applied_u in &applied {
        let status = example.solve();
        ex_solve.push(status.solve_time().as_secs_f64() * 1e6);
        ex_iterations.push(status.iter());
        let z = status.x().context("the sparse example QP was not solved")?;
        let u = SVector::<f64, NU>::from_column_slice(&z[nx_all..nx_all + NU]);
        max_diff = max_diff.max((u - applied_u).abs().max());
        x = ad * x + bd * u;
        if l.is_empty() {
            // The bounds after the first solve: only the x0 rows change.
            l = example_bounds(&d, true);
            up = example_bounds(&d, false);
        }
        for i in 0..NX {
            l[i] = -x[i];
            up[i] = -x[i];
        }
        example.update_bounds(&l, &up);
    }
    let step_p = Percentiles::of(&step);
    let solve_p = Percentiles::of(&solve);
    Ok(P3Result {
        problem: "p3",
        steps: STEPS,
        step_us: step_p,
        osqp_solve_us: solve_p,
        ratio_median: step_p.median / solve_p.median.max(1e-9),
        qp_iterations: IterationStats::of(&iterations),
        fallbacks,
        sparse_example_solve_us: Percentiles::of(&ex_solve),
        sparse_example_iterations: IterationStats::of(&ex_iterations),
        max_input_difference: max_diff,
    })
}

fn example_bounds(d: &P3Data, lower: bool) -> Vec<f64> {
    let nx_all = (d.N + 1) * NX;
    let inf = if lower {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let mut v = vec![0.0; 2 * nx_all + d.N * NU];
    for k in 0..=d.N {
        for i in 0..NX {
            let b = if lower { d.xmin[i] } else { d.xmax[i] };
            v[nx_all + k * NX + i] = b.unwrap_or(inf);
        }
    }
    for k in 0..d.N {
        for i in 0..NU {
            v[2 * nx_all + k * NU + i] = if lower { d.umin[i] } else { d.umax[i] };
        }
    }
    v
}

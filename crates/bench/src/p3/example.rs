//! P3's reference measurement: the example's own sparse QP (variables x
//! and u, dynamics as equality rows) in OSQP alone, as its Python code
//! builds it, flown along the same closed loop; and the example's data
//! (data/p3_quadcopter_lmpc.json), which configs/bench/p3.toml's robot
//! reads too.

use anyhow::{Context, Result};
use nalgebra::{SMatrix, SVector};
use osqp::{CscMatrix, Problem};
use serde::Deserialize;

use crate::IterationStats;
use recede_runner::stats::Percentiles;

pub(super) const NX: usize = 12;
pub(super) const NU: usize = 4;

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
pub(super) struct P3Data {
    pub Ad: Vec<Vec<f64>>,
    pub Bd: Vec<Vec<f64>>,
    pub umin: Vec<f64>,
    pub umax: Vec<f64>,
    pub xmin: Vec<Option<f64>>,
    pub xmax: Vec<Option<f64>>,
    pub Q: Vec<Vec<f64>>,
    pub QN: Vec<Vec<f64>>,
    pub R: Vec<Vec<f64>>,
    pub x0: Vec<f64>,
    pub xr: Vec<f64>,
    pub N: usize,
}

const DATA: &str = include_str!("../../../../data/p3_quadcopter_lmpc.json");

pub(super) fn matrix<const R: usize, const C: usize>(rows: &[Vec<f64>]) -> SMatrix<f64, R, C> {
    SMatrix::from_fn(|i, j| rows[i][j])
}

pub(super) fn diagonal(rows: &[Vec<f64>], scale: f64) -> Vec<f64> {
    (0..rows.len()).map(|i| rows[i][i] * scale).collect()
}

pub(super) fn load() -> Result<P3Data> {
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

/// The example's QP exactly as its Python code builds it.
pub(super) fn sparse_example(d: &P3Data) -> Result<Problem> {
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

/// What the bare solve did along the closed loop.
pub(super) struct ExampleRun {
    pub solve_us: Percentiles,
    pub iterations: IterationStats,
    /// Largest difference between its first inputs and `applied`.
    pub max_input_difference: f64,
}

/// The example's QP solved by OSQP alone at each of the closed loop's
/// steps, from its own plant rolled out under its own inputs (the same
/// states while the two loops agree), warm-started from its previous
/// solution.
pub(super) fn run_example(d: &P3Data, applied: &[SVector<f64, NU>]) -> Result<ExampleRun> {
    let ad = matrix::<NX, NX>(&d.Ad);
    let bd = matrix::<NX, NU>(&d.Bd);
    let mut example = sparse_example(d)?;
    let nx_all = (d.N + 1) * NX;
    let mut x = SVector::<f64, NX>::from_column_slice(&d.x0);
    let (mut l, mut up) = (vec![0.0; 0], vec![0.0; 0]);
    let (mut ex_solve, mut ex_iterations, mut max_diff) = (vec![], vec![], 0.0f64);
    for applied_u in applied {
        let status = example.solve();
        ex_solve.push(status.solve_time().as_secs_f64() * 1e6);
        ex_iterations.push(status.iter());
        let z = status.x().context("the sparse example QP was not solved")?;
        let u = SVector::<f64, NU>::from_column_slice(&z[nx_all..nx_all + NU]);
        max_diff = max_diff.max((u - applied_u).abs().max());
        x = ad * x + bd * u;
        if l.is_empty() {
            // The bounds after the first solve: only the x0 rows change.
            l = example_bounds(d, true);
            up = example_bounds(d, false);
        }
        for i in 0..NX {
            l[i] = -x[i];
            up[i] = -x[i];
        }
        example.update_bounds(&l, &up);
    }
    Ok(ExampleRun {
        solve_us: Percentiles::of(&ex_solve),
        iterations: IterationStats::of(&ex_iterations),
        max_input_difference: max_diff,
    })
}

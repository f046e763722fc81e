//! A discrete-time linear robot, `x+ = A x + B u` over a fixed period
//! (`[robot] kind = "linear_discrete"`): its `A` and `B` read from a JSON
//! or TOML file (OSQP's quadcopter, P3, is `data/p3_quadcopter_lmpc.json`).
//! It loads into a [`ModelFile`] so that the controller, the simulator's
//! plant and the recording take it as they take a model file; the
//! integrators apply the map once per period instead of RK4
//! ([`crate::Dynamics::discrete_period_secs`]).

use std::collections::BTreeMap;
use std::path::Path;

use nalgebra::{SMatrix, SVector};

use super::{Backend, FileError, ModelFile};
use crate::{c, Scalar, Tangent};

/// Which entries of the file are `A` and `B`, and the period the map
/// spans.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearOptions {
    /// The key of `A` (rows of numbers, square).
    pub a: String,
    /// The key of `B` (as many rows as `A`).
    pub b: String,
    /// The time one application of the map spans, s.
    pub period_secs: f64,
}

/// `A` and `B`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearMap {
    nx: usize,
    nu: usize,
    a: Vec<f64>,
    b: Vec<f64>,
}

impl LinearMap {
    /// `A x + B u` into `next`.
    #[inline]
    pub(crate) fn eval<T: Scalar>(&self, x: &[T], u: &[T], next: &mut [T]) {
        for (i, out) in next.iter_mut().enumerate().take(self.nx) {
            let (mut ax, mut bu): (T, T) = (c(0.0), c(0.0));
            for (j, xj) in x.iter().enumerate().take(self.nx) {
                let a = self.a[i * self.nx + j];
                if a != 0.0 {
                    ax += *xj * a;
                }
            }
            for (j, uj) in u.iter().enumerate().take(self.nu) {
                let b = self.b[i * self.nu + j];
                if b != 0.0 {
                    bu += *uj * b;
                }
            }
            *out = ax + bu;
        }
    }

    /// The map's value and its Jacobians (`A`, `B`) at `(x, u)`.
    pub(crate) fn tangent<const NX: usize, const NU: usize>(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Tangent<NX, NU> {
        let mut value = SVector::<f64, NX>::zeros();
        self.eval(x.as_slice(), u.as_slice(), value.as_mut_slice());
        Tangent {
            value,
            d_x: SMatrix::from_fn(|i, j| self.a[i * self.nx + j]),
            d_u: SMatrix::from_fn(|i, j| self.b[i * self.nu + j]),
        }
    }
}

/// The file as read: JSON or TOML by its extension.
enum Document {
    Json(serde_json::Value),
    Toml(toml::Table),
}

/// Loads the linear robot at `path` with `options`.
pub fn load(path: &Path, options: &LinearOptions) -> Result<ModelFile, FileError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileError::Read {
        file: origin.clone(),
        message: e.to_string(),
    })?;
    let json = path.extension().is_some_and(|e| e == "json");
    let stem = path.file_stem().map_or_else(
        || "linear".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    parse(&text, json, &origin, &stem, options)
}

/// [`load`] from the file's text; `origin` names it in errors.
pub fn parse(
    text: &str,
    json: bool,
    origin: &str,
    name: &str,
    options: &LinearOptions,
) -> Result<ModelFile, FileError> {
    let doc = if json {
        Document::Json(serde_json::from_str(text).map_err(|e| FileError::Toml {
            file: origin.to_string(),
            message: e.to_string(),
        })?)
    } else {
        Document::Toml(toml::from_str(text).map_err(|e| FileError::Toml {
            file: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?)
    };
    let invalid = |key: &str, expected: &str, found: String| FileError::Invalid {
        file: origin.to_string(),
        key: key.to_string(),
        expected: expected.to_string(),
        found,
    };
    let p = options.period_secs;
    if !(p.is_finite() && p > 0.0) {
        return Err(invalid("period_secs", "a finite period > 0", p.to_string()));
    }
    let a = doc.matrix(&options.a).map_err(|found| {
        invalid(
            &options.a,
            "A: rows of finite numbers (the robot's x+ = A x + B u)",
            found,
        )
    })?;
    let nx = a.len();
    if nx == 0 || a.iter().any(|row| row.len() != nx) {
        let sizes: Vec<usize> = a.iter().map(Vec::len).collect();
        return Err(invalid(
            &options.a,
            "A square (n rows of n numbers, n >= 1)",
            format!("{nx} rows of lengths {sizes:?}"),
        ));
    }
    let b = doc.matrix(&options.b).map_err(|found| {
        invalid(
            &options.b,
            "B: rows of finite numbers (the robot's x+ = A x + B u)",
            found,
        )
    })?;
    let nu = b.first().map_or(0, Vec::len);
    if b.len() != nx || nu == 0 || b.iter().any(|row| row.len() != nu) {
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        return Err(invalid(
            &options.b,
            &format!("B with as many rows as A ({nx}), each of the same length >= 1"),
            format!("{} rows of lengths {sizes:?}", b.len()),
        ));
    }
    let names = |prefix: &str, n: usize| (1..=n).map(|i| format!("{prefix}{i}")).collect();
    Ok(ModelFile {
        origin: origin.to_string(),
        name: name.to_string(),
        state_names: names("x", nx),
        input_names: names("u", nu),
        state_units: vec![String::new(); nx],
        input_units: vec![String::new(); nu],
        // The map's inputs are unbounded: the controller's `input_min` /
        // `input_max` bound the plan, and the plant applies it as given
        // (as OSQP's example does).
        input_min: vec![f64::NEG_INFINITY; nu],
        input_max: vec![f64::INFINITY; nu],
        safe_input: vec![0.0; nu],
        initial_state: vec![0.0; nx],
        parameters: BTreeMap::new(),
        position_states: 0,
        governor: None,
        box_m: [0.2, 0.2, 0.1],
        state_min: vec![f64::NEG_INFINITY; nx],
        state_max: vec![f64::INFINITY; nx],
        kind: crate::robots::ModelFileConfig::LINEAR_KIND,
        discrete_period_secs: Some(p),
        // No mapping and no encoders: the estimator stays the truth.
        position_mapped: false,
        attitude_mapped: false,
        encoder_states: Vec::new(),
        backend: Backend::Linear(Box::new(LinearMap {
            nx,
            nu,
            a: a.concat(),
            b: b.concat(),
        })),
    })
}

impl Document {
    /// The rows of numbers under `key`; `Err(what was found)` otherwise.
    fn matrix(&self, key: &str) -> Result<Vec<Vec<f64>>, String> {
        let rows = match self {
            Self::Json(v) => v
                .get(key)
                .ok_or_else(|| "no such key".to_string())?
                .as_array()
                .ok_or_else(|| "not an array of rows".to_string())?
                .iter()
                .map(|row| {
                    row.as_array()
                        .ok_or_else(|| format!("a row that is not an array: {row}"))?
                        .iter()
                        .map(|e| e.as_f64().ok_or_else(|| format!("the entry {e}")))
                        .collect::<Result<Vec<f64>, String>>()
                })
                .collect::<Result<Vec<_>, String>>()?,
            Self::Toml(t) => t
                .get(key)
                .ok_or_else(|| "no such key".to_string())?
                .as_array()
                .ok_or_else(|| "not an array of rows".to_string())?
                .iter()
                .map(|row| {
                    row.as_array()
                        .ok_or_else(|| format!("a row that is not an array: {row}"))?
                        .iter()
                        .map(|e| match e {
                            toml::Value::Float(f) => Ok(*f),
                            toml::Value::Integer(i) => Ok(*i as f64),
                            other => Err(format!("the entry {other}")),
                        })
                        .collect::<Result<Vec<f64>, String>>()
                })
                .collect::<Result<Vec<_>, String>>()?,
        };
        for (i, row) in rows.iter().enumerate() {
            if let Some((j, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(format!("{v} at row {i}, column {j}"));
            }
        }
        Ok(rows)
    }
}

//! Robots described by a model file (TOML) instead of Rust: named states,
//! inputs and parameters, `x' = f(x, u, p)` as expressions with
//! intermediate definitions, and optional mappings (position, attitude,
//! drawn point). The expressions are parsed by `evalexpr` and compiled at
//! load to a [`tape`] evaluated on `f64` and on dual numbers, so Jacobians
//! are exact. See docs/adding-a-robot.md, "A model file".

mod compile;
pub mod linear;
mod motion;
mod robot;
mod spec;
mod tape;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use thiserror::Error;
use toml::Spanned;

pub use linear::LinearOptions;
pub use motion::Motion;
pub use robot::{is_supported, supported_sizes, FileRobot};
pub use spec::GovernorSpec;
pub use tape::MAX_SLOTS;

use compile::Compiler;
use spec::Spec;
use tape::Tape;

/// What is wrong with one expression.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExprProblem {
    #[error("cannot parse: {0}")]
    Syntax(String),
    #[error("empty expression")]
    Empty,
    #[error("unknown variable (not a state, input, parameter or definition)")]
    UnknownVariable,
    #[error("unknown function (known: sin, cos, tan, exp, ln, sqrt, tanh, atan2)")]
    UnknownFunction,
    #[error("expected {expected} operand(s), found {got}")]
    Arity { expected: usize, got: usize },
    #[error("division by zero (a literal, or parameters that make the divisor 0)")]
    DivisionByZero,
    #[error("the exponent must be a constant (a number or parameters)")]
    VariableExponent,
    #[error("unsupported operator `{0}` (expressions use + - * / ^ and functions)")]
    Unsupported(String),
    #[error("definitions that use each other in a cycle")]
    Cycle,
    #[error("a mapping reads states and parameters only, not inputs")]
    InputInMapping,
    #[error("the model needs more than {0} slots (states, inputs and operations)")]
    TooLarge(usize),
}

/// A model file that cannot be used. Every variant names the file; those
/// about an expression also name its line and the symbol at fault.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FileError {
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: {message}")]
    Toml { file: String, message: String },
    #[error("{file}:{line}: in `{defining}`: `{symbol}`: {problem}")]
    Expression {
        file: String,
        line: usize,
        /// The state, definition or mapping being defined.
        defining: String,
        symbol: String,
        problem: ExprProblem,
    },
    #[error("{file}:{line}: `{name}` is defined twice (states, inputs, parameters and definitions share one namespace)")]
    Duplicate {
        file: String,
        line: usize,
        name: String,
    },
    #[error("{file}: `{key}`: expected {expected}, found {found}")]
    Invalid {
        file: String,
        key: String,
        expected: String,
        found: String,
    },
    #[error("{file}:{line}: d{state}/dt is {value} at the initial state and safe input")]
    NotFinite {
        file: String,
        line: usize,
        state: String,
        value: f64,
    },
    /// A URDF file that cannot be used: `element` names the link, joint
    /// or key at fault.
    #[error("{file}: {element}: {problem}")]
    Urdf {
        file: String,
        element: String,
        problem: String,
    },
    #[error("{file}: {nx} states and {nu} inputs: a model file robot must have one of the supported sizes {supported} (docs/adding-a-robot.md)")]
    UnsupportedSize {
        file: String,
        nx: usize,
        nu: usize,
        supported: String,
    },
}

/// A loaded and compiled model file, with its parameter values fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// Where it was read from (errors, logs).
    pub origin: String,
    pub name: String,
    pub state_names: Vec<String>,
    pub input_names: Vec<String>,
    /// The file's `unit` of each state and input (`""` where it gives none).
    pub state_units: Vec<String>,
    pub input_units: Vec<String>,
    pub input_min: Vec<f64>,
    pub input_max: Vec<f64>,
    pub safe_input: Vec<f64>,
    pub initial_state: Vec<f64>,
    /// The parameter values in use, by name.
    pub parameters: BTreeMap<String, f64>,
    /// How many of the first states are a world position obstacles can
    /// block (0, 2 or 3).
    pub position_states: usize,
    pub governor: Option<GovernorSpec>,
    /// The drawn box (length, width, height), m.
    pub box_m: [f64; 3],
    /// Per state, the bounds the controller keeps it in (a URDF's joint
    /// limits); infinite where there are none.
    pub state_min: Vec<f64>,
    pub state_max: Vec<f64>,
    /// `"model_file"`, `"urdf"` or `"linear_discrete"`: what the
    /// scenario's `kind` said.
    pub kind: &'static str,
    /// `Some(period)` for a discrete-time robot (`linear_discrete`): its
    /// dynamics give the state one period later, not a derivative.
    pub discrete_period_secs: Option<f64>,
    /// Whether the file maps the state to a position (`[mapping]
    /// position`; a URDF's tip): a position fix can then be fused.
    pub position_mapped: bool,
    /// Whether it maps the state to an attitude (`[mapping] attitude`; a
    /// URDF's tip): a fix's yaw can then be fused.
    pub attitude_mapped: bool,
    /// The states the `encoders` sensor reads, one channel each in order
    /// (`[encoders] states`; every controlled joint of a URDF).
    pub encoder_states: Vec<usize>,
    pub(crate) backend: Backend,
}

/// How a file robot evaluates: a compiled tape of expressions, or a
/// URDF chain's rigid-body dynamics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Backend {
    Tape {
        dynamics: Tape,
        /// Position (3), attitude (4), drawn point (3).
        mapping: Tape,
    },
    /// Only the URDF parser (feature `urdf`) builds one.
    #[cfg_attr(not(feature = "urdf"), allow(dead_code))]
    Chain(Box<crate::urdf::Chain>),
    /// `x+ = A x + B u` (`kind = "linear_discrete"`).
    Linear(Box<linear::LinearMap>),
}

impl Backend {
    #[inline]
    fn dynamics<T: crate::Scalar>(&self, x: &[T], u: &[T], xdot: &mut [T]) {
        match self {
            Self::Tape { dynamics, .. } => dynamics.eval(x, u, xdot),
            Self::Chain(chain) => chain.derivative(x, u, xdot),
            Self::Linear(map) => map.eval(x, u, xdot),
        }
    }

    /// Position (3), attitude (4), drawn point (3) into `out`.
    #[inline]
    pub(crate) fn mapping<T: crate::Scalar>(&self, x: &[T], out: &mut [T]) {
        match self {
            Self::Tape { mapping, .. } => mapping.eval(x, &[], out),
            Self::Chain(chain) => chain.mapping(x, out),
            // Nowhere in particular: at the origin, level.
            Self::Linear(_) => {
                out.fill(crate::c(0.0));
                out[3] = crate::c(1.0);
            }
        }
    }
}

/// Loads the model file at `path` with its default parameter values.
pub fn load(path: &Path) -> Result<ModelFile, FileError> {
    load_with(path, &BTreeMap::new())
}

/// Loads the model file at `path` with `overrides` replacing the defaults
/// of the parameters they name (an unknown name is an error).
pub fn load_with(path: &Path, overrides: &BTreeMap<String, f64>) -> Result<ModelFile, FileError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileError::Read {
        file: origin.clone(),
        message: e.to_string(),
    })?;
    let stem = path
        .file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned());
    ModelFile::parse(&text, &origin, &stem, overrides)
}

impl ModelFile {
    /// Parses and compiles a model file's text; `origin` names it in
    /// errors, `default_name` is its name unless it gives one.
    pub fn parse(
        text: &str,
        origin: &str,
        default_name: &str,
        overrides: &BTreeMap<String, f64>,
    ) -> Result<Self, FileError> {
        let spec: Spec = toml::from_str(text).map_err(|e| FileError::Toml {
            file: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: String, expected: &str, found: String| FileError::Invalid {
            file: origin.to_string(),
            key,
            expected: expected.to_string(),
            found,
        };
        let (nx, nu) = (spec.states.len(), spec.inputs.len());
        if nx == 0 || nu == 0 {
            return Err(invalid(
                "state / input".into(),
                "at least one [[state]] and one [[input]]",
                format!("{nx} states and {nu} inputs"),
            ));
        }
        // One namespace; the line of a name's second use.
        let mut seen = HashSet::new();
        let mut names: Vec<(&str, usize)> = Vec::new();
        for s in &spec.states {
            names.push((
                s.name.get_ref(),
                compile::line_at(text, s.name.span().start),
            ));
        }
        for i in &spec.inputs {
            names.push((
                i.name.get_ref(),
                compile::line_at(text, i.name.span().start),
            ));
        }
        for p in spec.parameters.keys() {
            names.push((p, 0));
        }
        for (d, e) in &spec.definitions {
            names.push((d, compile::line_at(text, e.span().start)));
        }
        for (name, line) in &names {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !valid {
                return Err(invalid(
                    format!("name `{name}`"),
                    "an identifier (letters, digits, _)",
                    format!("line {line}"),
                ));
            }
            if !seen.insert(*name) {
                return Err(FileError::Duplicate {
                    file: origin.to_string(),
                    line: *line,
                    name: name.to_string(),
                });
            }
        }
        if let Some(unknown) = overrides.keys().find(|k| !spec.parameters.contains_key(*k)) {
            return Err(invalid(
                format!("params.{unknown}"),
                "a parameter the model file defines",
                format!(
                    "none named so (parameters: {})",
                    spec.parameters
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let parameters: BTreeMap<String, f64> = spec
            .parameters
            .iter()
            .map(|(k, p)| (k.clone(), overrides.get(k).copied().unwrap_or(p.value)))
            .collect();
        if let Some((k, v)) = parameters.iter().find(|(_, v)| !v.is_finite()) {
            return Err(invalid(
                format!("parameters.{k}"),
                "a finite number",
                v.to_string(),
            ));
        }
        for (i, input) in spec.inputs.iter().enumerate() {
            let ok = input.min.is_finite()
                && input.max.is_finite()
                && input.min < input.max
                && input.safe >= input.min
                && input.safe <= input.max;
            if !ok {
                return Err(invalid(
                    format!("input[{i}] ({})", input.name.get_ref()),
                    "finite min < max with min <= safe <= max",
                    format!("min {}, max {}, safe {}", input.min, input.max, input.safe),
                ));
            }
        }
        if let Some((i, s)) = spec
            .states
            .iter()
            .enumerate()
            .find(|(_, s)| !s.initial.is_finite())
        {
            return Err(invalid(
                format!("state[{i}] ({}).initial", s.name.get_ref()),
                "a finite number",
                s.initial.to_string(),
            ));
        }
        let m = &spec.mapping;
        if ![0, 2, 3].contains(&m.position_states) || m.position_states > nx {
            return Err(invalid(
                "mapping.position_states".into(),
                "0, 2 or 3 (and at most the number of states)",
                m.position_states.to_string(),
            ));
        }
        if m.box_m.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(invalid(
                "mapping.box_m".into(),
                "three sizes > 0",
                format!("{:?}", m.box_m),
            ));
        }
        if let Some(g) = &spec.governor {
            let ok = g.states >= 1
                && g.states <= nx
                && g.max_lead > 0.0
                && g.speed.is_finite()
                && g.speed > 0.0
                && g.velocity_index.is_none_or(|v| v + g.states <= nx);
            if !ok {
                return Err(invalid(
                    "governor".into(),
                    "1 <= states <= the state count, max_lead > 0, finite speed > 0, velocity_index + states <= the state count",
                    format!("{g:?}"),
                ));
            }
        }

        let state_names: Vec<&str> = spec
            .states
            .iter()
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let mut encoder_states = Vec::with_capacity(spec.encoders.states.len());
        for (k, name) in spec.encoders.states.iter().enumerate() {
            let Some(i) = state_names.iter().position(|s| s == name.get_ref()) else {
                return Err(invalid(
                    format!("encoders.states[{k}]"),
                    "the name of a [[state]] of this file",
                    format!(
                        "`{}` (line {}; states: {})",
                        name.get_ref(),
                        compile::line_at(text, name.span().start),
                        state_names.join(", ")
                    ),
                ));
            };
            if encoder_states.contains(&i) {
                return Err(invalid(
                    format!("encoders.states[{k}]"),
                    "each state read by one channel",
                    format!("`{}` twice", name.get_ref()),
                ));
            }
            encoder_states.push(i);
        }
        let input_names: Vec<&str> = spec
            .inputs
            .iter()
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let params: Vec<(&str, f64)> = parameters.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let definitions: Vec<(&str, &Spanned<String>)> = spec
            .definitions
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();

        let mut compiler = Compiler::new(
            origin,
            text,
            &state_names,
            &input_names,
            &params,
            definitions.clone(),
            true,
        );
        for s in &spec.states {
            compiler.output(&format!("d{}/dt", s.name.get_ref()), &s.derivative)?;
        }
        let dynamics = compiler.finish(true)?;

        let mut compiler = Compiler::new(
            origin,
            text,
            &state_names,
            &input_names,
            &params,
            definitions,
            false,
        );
        let constant = |v: &str| Spanned::new(0..0, v.to_string());
        let zeros = [constant("0"), constant("0"), constant("0")];
        let level = [constant("1"), constant("0"), constant("0"), constant("0")];
        let position = m.position.as_ref().unwrap_or(&zeros);
        for (k, e) in position.iter().enumerate() {
            compiler.output(&format!("mapping.position[{k}]"), e)?;
        }
        for (k, e) in m.attitude.as_ref().unwrap_or(&level).iter().enumerate() {
            compiler.output(&format!("mapping.attitude[{k}]"), e)?;
        }
        for (k, e) in m.point.as_ref().unwrap_or(position).iter().enumerate() {
            compiler.output(&format!("mapping.point[{k}]"), e)?;
        }
        let mapping = compiler.finish(false)?;

        let model = Self {
            origin: origin.to_string(),
            name: spec
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_string()),
            state_names: state_names.iter().map(|s| s.to_string()).collect(),
            input_names: input_names.iter().map(|s| s.to_string()).collect(),
            state_units: spec
                .states
                .iter()
                .map(|s| s.unit.clone().unwrap_or_default())
                .collect(),
            input_units: spec
                .inputs
                .iter()
                .map(|i| i.unit.clone().unwrap_or_default())
                .collect(),
            input_min: spec.inputs.iter().map(|i| i.min).collect(),
            input_max: spec.inputs.iter().map(|i| i.max).collect(),
            safe_input: spec.inputs.iter().map(|i| i.safe).collect(),
            initial_state: spec.states.iter().map(|s| s.initial).collect(),
            parameters,
            position_states: m.position_states,
            governor: spec.governor,
            box_m: m.box_m,
            state_min: vec![f64::NEG_INFINITY; nx],
            state_max: vec![f64::INFINITY; nx],
            kind: crate::robots::ModelFileConfig::KIND,
            discrete_period_secs: None,
            position_mapped: m.position.is_some(),
            attitude_mapped: m.attitude.is_some(),
            encoder_states,
            backend: Backend::Tape { dynamics, mapping },
        };
        // A NaN or infinity where the file says the robot starts.
        let mut xdot = vec![0.0; nx];
        model.derivative(&model.initial_state, &model.safe_input, &mut xdot);
        if let Some((i, v)) = xdot.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let s = &spec.states[i];
            return Err(FileError::NotFinite {
                file: origin.to_string(),
                line: compile::line_at(text, s.derivative.span().start),
                state: s.name.get_ref().clone(),
                value: *v,
            });
        }
        Ok(model)
    }

    pub fn nx(&self) -> usize {
        self.state_names.len()
    }

    pub fn nu(&self) -> usize {
        self.input_names.len()
    }

    /// `x' = f(x, u)` on plain slices or dual numbers into `xdot`. Allocates
    /// nothing.
    #[inline]
    pub fn derivative<T: crate::Scalar>(&self, x: &[T], u: &[T], xdot: &mut [T]) {
        self.backend.dynamics(x, u, xdot);
    }

    /// [`Self::derivative`] with its Jacobians where the backend has a
    /// cheaper way than duals (a URDF chain); `None` otherwise.
    pub fn derivative_tangent<const NX: usize, const NU: usize>(
        &self,
        x: &nalgebra::SVector<f64, NX>,
        u: &nalgebra::SVector<f64, NU>,
    ) -> Option<crate::Tangent<NX, NU>> {
        match &self.backend {
            Backend::Chain(chain) => chain.tangent(x, u),
            Backend::Linear(map) => Some(map.tangent(x, u)),
            Backend::Tape { .. } => None,
        }
    }

    /// The end effector's position (m, base frame) at state `x`, for a
    /// URDF chain (`None` for a model file of expressions: its mapping's
    /// position is [`Self::placement`]'s).
    pub fn end_effector(&self, x: &[f64]) -> Option<[f64; 3]> {
        match &self.backend {
            Backend::Chain(chain) => Some(chain.tip_position(&x[..chain.dof()])),
            Backend::Tape { .. } | Backend::Linear(_) => None,
        }
    }

    /// Joint angles that put a URDF chain's end effector at `target` (m,
    /// base frame), from `guess`, the redundant joints nearest `posture`,
    /// within the joint limits: `None` for a model file of expressions,
    /// `Some(Err(distance left, m))` out of reach. Setup-time: allocates.
    pub fn reach(
        &self,
        target: [f64; 3],
        guess: &[f64],
        posture: &[f64],
    ) -> Option<Result<Vec<f64>, f64>> {
        match &self.backend {
            Backend::Chain(chain) => {
                let n = chain.dof();
                if guess.len() < n || posture.len() < n {
                    return Some(Err(f64::INFINITY));
                }
                Some(chain.reach(
                    target,
                    guess,
                    posture,
                    &self.state_min[..n],
                    &self.state_max[..n],
                ))
            }
            Backend::Tape { .. } | Backend::Linear(_) => None,
        }
    }

    /// The number of operations the dynamics compiled to (0 for a URDF
    /// chain, which is not compiled to a tape).
    pub fn operations(&self) -> usize {
        match &self.backend {
            Backend::Tape { dynamics, .. } => dynamics.ops.len(),
            Backend::Chain(_) | Backend::Linear(_) => 0,
        }
    }

    /// Kinetic plus potential energy at `x`, J, for a URDF chain (`None`
    /// for a model file of expressions, which does not say its energy).
    pub fn mechanical_energy(&self, x: &[f64]) -> Option<f64> {
        match &self.backend {
            Backend::Chain(chain) => Some(chain.energy(x)),
            Backend::Tape { .. } | Backend::Linear(_) => None,
        }
    }

    /// The mappings on any scalar (duals for a measurement's Jacobian):
    /// position (3), attitude `[w, x, y, z]` as written, not normalised
    /// (4), drawn point (3) into `out[..10]`. Allocates nothing.
    #[inline]
    pub fn mapping<T: crate::Scalar>(&self, x: &[T], out: &mut [T]) {
        self.backend.mapping(x, out);
    }

    /// Position (m), attitude `[w, x, y, z]` (normalised; level if
    /// degenerate) and drawn point (m) at state `x`.
    pub fn placement(&self, x: &[f64]) -> ([f64; 3], [f64; 4], [f64; 3]) {
        let mut out = [0.0; 10];
        self.backend.mapping(x, &mut out);
        let q = [out[3], out[4], out[5], out[6]];
        let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        let attitude = if norm.is_finite() && norm > 1e-12 {
            q.map(|v| v / norm)
        } else {
            [1.0, 0.0, 0.0, 0.0]
        };
        ([out[0], out[1], out[2]], attitude, [out[7], out[8], out[9]])
    }
}

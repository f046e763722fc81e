use std::sync::Arc;

use nalgebra::{SVector, Vector3};
use recede_model::file::{FileError, FileRobot, ModelFile};
use recede_model::robots::{self, Robot, RobotConfig};
use recede_model::{Bounds, Discretized, Integrator, ModelError, NewtonStats, WithResidual};
use recede_mpc::{Mpc, MpcConfig, MpcError, StageConstraints, StepReport, UpdateError};
use recede_msg::Obstacle;
use thiserror::Error;

use crate::guidance::{BodyExtent, BodyPoints, ObstacleConstraintConfig, ObstacleConstraints};
use crate::recovery::{position_governor, Governor, Recovery};
use crate::residual::{Adaptation, ResidualConfig, ResidualModel, ResidualStats};
use crate::ControllerConfig;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ControlError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error(transparent)]
    Robot(#[from] ModelError),
    #[error(transparent)]
    Mpc(#[from] MpcError),
    /// A residual model file that cannot be used (missing, corrupt, made
    /// for another robot), or adaptation settings that are invalid.
    #[error("residual model `{path}`: {message}")]
    Residual { path: String, message: String },
    /// A slice handed to the controller has the wrong length.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// Parameters of one robot kind handed to a controller of another.
    #[error("robot parameters: expected a `{expected}`, got a `{got}`")]
    WrongRobot {
        expected: &'static str,
        got: &'static str,
    },
    /// A `[controller]` key that does not fit a discrete-time robot
    /// (`linear_discrete`).
    #[error("[controller] `{key}`: expected {expected} for the discrete-time robot of {file}, found {found}")]
    DiscreteRobot {
        file: String,
        key: &'static str,
        expected: String,
        found: String,
    },
    /// A runtime change (weights, bounds) refused; nothing was changed.
    #[error(transparent)]
    Update(#[from] UpdateError),
}

/// The prediction model of every robot: its physics plus a residual (none
/// unless the scenario names a model file), RK4-discretised.
pub type Shooting<D, const NX: usize, const NU: usize> =
    Discretized<WithResidual<D, ResidualModel<NX, NU>>>;

/// One robot's MPC (with general constraints `C`: perceived obstacles for
/// the robots that move among them) and, when configured, the online
/// adaptation of its learned residual.
#[derive(Debug)]
pub struct RobotController<D, const NX: usize, const NU: usize, C = ()> {
    pub mpc: Mpc<Shooting<D, NX, NU>, C, NX, NU>,
    pub adaptation: Option<Adaptation<NX, NU>>,
    /// How far the plan is shifted after each step, s
    /// ([`MpcConfig::period_secs`]).
    pub period_secs: f64,
}

/// How many of the first states are a world position obstacles can block,
/// whatever the robot (a built-in's descriptor, a model file's mapping).
pub trait PositionStates {
    fn position_states(&self) -> usize;
}

impl<const NX: usize, const NU: usize> PositionStates for FileRobot<NX, NU> {
    fn position_states(&self) -> usize {
        self.model.position_states
    }
}

macro_rules! file_controllers {
    ([$d:tt] $(($variant:ident, $nx:literal, $nu:literal)),* $(,)?) => {
        /// The controller of a model file robot, one variant per supported
        /// size (`recede_model::for_each_file_size!`).
        #[derive(Debug)]
        pub enum FileController {
            $($variant(Box<RobotController<FileRobot<$nx, $nu>, $nx, $nu, ObstacleConstraints<$nx>>>),)*
        }

        const _: () = {
            $(assert!($nx <= recede_msg::MAX_DIM && $nu <= recede_msg::MAX_DIM);)*
        };

        /// Runs `$body` with `$mpc` bound to the inner controller, whatever the size.
        macro_rules! each_file {
            ($d self_:expr, $d mpc:ident => $d body:expr) => {
                match $d self_ {
                    $(FileController::$variant($d mpc) => $d body,)*
                }
            };
        }

        impl FileController {
            fn build(
                model: Arc<ModelFile>,
                config: &MpcConfig,
                residual: Option<&ResidualConfig>,
                obstacles: Option<&ObstacleConstraintConfig>,
                x0: &[f64],
            ) -> Result<Self, ControlError> {
                let size = (model.nx(), model.nu());
                $(if size == ($nx, $nu) {
                    let robot = FileRobot::<$nx, $nu>::new(model).map_err(ModelError::from)?;
                    return Ok(Self::$variant(build_file_robot(robot, config, residual, obstacles, x0)?));
                })*
                Err(ModelError::from(FileError::UnsupportedSize {
                    file: model.origin.clone(),
                    nx: size.0,
                    nu: size.1,
                    supported: recede_model::file::supported_sizes(),
                })
                .into())
            }
        }
    };
}

recede_model::for_each_file_size!(file_controllers, $);

macro_rules! controllers {
    ([$d:tt] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
        /// A running MPC for one of the robots of the robot list (boxed: the
        /// controllers differ in size by kilobytes of fixed-size buffers).
        /// Every robot's MPC carries keep-out rows; robots fixed to their
        /// base have none.
        #[derive(Debug)]
        pub enum Controller {
            $($variant(
                Box<
                    RobotController<
                        robots::$robot,
                        { robots::$module::NX },
                        { robots::$module::NU },
                        ObstacleConstraints<{ robots::$module::NX }>,
                    >,
                >,
            ),)*
            /// A robot from a model file.
            ModelFile(FileController),
        }

        $(impl PositionStates for robots::$robot {
            fn position_states(&self) -> usize {
                <Self as Robot<{ robots::$module::NX }, { robots::$module::NU }>>::POSITION_STATES
            }
        })*

        // Every robot's vectors fit the messages sized for any robot.
        const _: () = {
            $(assert!(
                robots::$module::NX <= recede_msg::MAX_DIM
                    && robots::$module::NU <= recede_msg::MAX_DIM
            );)*
        };

        /// Runs `$body` with `$mpc` bound to the inner controller, whatever the robot.
        macro_rules! each {
            ($d self_:expr, $d mpc:ident => $d body:expr) => {
                match $d self_ {
                    $(Controller::$variant($d mpc) => $d body,)*
                    Controller::ModelFile(file) => each_file!(file, $d mpc => $d body),
                }
            };
        }

        impl Controller {
            fn build_any(
                robot: &RobotConfig,
                config: &MpcConfig,
                residual: Option<&ResidualConfig>,
                obstacles: Option<&ObstacleConstraintConfig>,
                x0: &[f64],
            ) -> Result<Self, ControlError> {
                Ok(match robot {
                    $(RobotConfig::$variant(p) => Self::$variant(build_robot(
                        robots::$robot::new(*p)?,
                        config,
                        residual,
                        obstacles,
                        x0,
                    )?),)*
                    RobotConfig::ModelFile(f) => Self::ModelFile(FileController::build(
                        f.model().map_err(ModelError::from)?,
                        config,
                        residual,
                        obstacles,
                        x0,
                    )?),
                })
            }
        }
    };
}

recede_model::for_each_robot!(controllers, $);

// After the macro: `each!` is in scope there.
mod runtime;

/// Whether the robot moves among obstacles (has keep-out rows to fill).
fn moves_among_obstacles<R, C, const NX: usize, const NU: usize>(
    m: &RobotController<R, NX, NU, C>,
) -> bool
where
    R: PositionStates + recede_model::Dynamics<NX, NU>,
    C: StageConstraints<NX>,
{
    m.mpc.model().dynamics.nominal.position_states() > 0
}

/// A model file robot's controller: its input limits where the table
/// leaves them out, its governor where `[controller.governor]` is absent,
/// its safe input as the first plan's, keep-out rows on its position.
fn build_file_robot<const NX: usize, const NU: usize>(
    robot: FileRobot<NX, NU>,
    config: &MpcConfig,
    residual: Option<&ResidualConfig>,
    obstacles: Option<&ObstacleConstraintConfig>,
    x0: &[f64],
) -> Result<Box<RobotController<FileRobot<NX, NU>, NX, NU, ObstacleConstraints<NX>>>, ControlError>
{
    let governor = robot.model.governor.map(|g| {
        (
            g.states,
            Governor {
                max_lead: g.max_lead,
                speed: g.speed,
                velocity: g.velocity_index,
            },
        )
    });
    if let Some(period) = robot.model.discrete_period_secs {
        check_discrete(&robot.model.origin, period, config, residual)?;
    }
    let mut config = with_defaults(config, robot.input_bounds(), governor);
    if config.state_bounds.is_empty() {
        config.state_bounds = file_state_bounds(&robot.model);
    }
    let constraints = match robot.model.position_states {
        0 => ObstacleConstraints::disabled(0, 0),
        // The contact check counts a file robot's box by its bounding ball,
        // wider than the box: no body extent for it.
        dims => keep_out::<NX>(None, obstacles, dims)?,
    };
    let safe = robot.safe_input();
    build(robot, &config, residual, x0, safe, constraints)
}

/// A discrete-time robot's map spans `period` s: the OCP's intervals must
/// be that long (the map is applied once per interval, no RK4), and a
/// learned residual (a correction of a continuous derivative) has no
/// meaning on it.
fn check_discrete(
    file: &str,
    period: f64,
    config: &MpcConfig,
    residual: Option<&ResidualConfig>,
) -> Result<(), ControlError> {
    let fail = |key, expected: String, found: String| ControlError::DiscreteRobot {
        file: file.to_string(),
        key,
        expected,
        found,
    };
    if (config.dt_secs - period).abs() > 1e-9 * period {
        return Err(fail(
            "dt_secs",
            format!("its period_secs, {period}"),
            config.dt_secs.to_string(),
        ));
    }
    if let Some(r) = residual {
        return Err(fail(
            "residual",
            "none (a residual corrects a continuous derivative)".into(),
            r.model.display().to_string(),
        ));
    }
    Ok(())
}

/// A file robot's own state limits (a URDF's joint position limits) as
/// soft bounds, for a `[controller]` that gives no `state_bounds`: soft, so
/// a plan that starts beyond a limit (a disturbance, a measurement) stays
/// a feasible QP; an L1 weight of 1000 N m per rad keeps them exact in
/// practice.
fn file_state_bounds(model: &ModelFile) -> Vec<recede_mpc::StateBoundConfig> {
    (0..model.nx())
        .filter(|&i| model.state_min[i].is_finite() || model.state_max[i].is_finite())
        .filter(|&i| i < model.nx() / 2 || model.kind != robots::ModelFileConfig::URDF_KIND)
        .map(|i| recede_mpc::StateBoundConfig {
            index: i,
            min: Some(model.state_min[i]).filter(|v| v.is_finite()),
            max: Some(model.state_max[i]).filter(|v| v.is_finite()),
            soft: Some(recede_mpc::SoftPenalty {
                l1: 1000.0,
                l2: 1.0e4,
            }),
        })
        .collect()
}

/// One robot's controller: its input limits where the table leaves them
/// out, its safe input as the first plan's, keep-out rows on its position.
fn build_robot<R: Recovery<NX, NU> + Send + Sync + 'static, const NX: usize, const NU: usize>(
    robot: R,
    config: &MpcConfig,
    residual: Option<&ResidualConfig>,
    obstacles: Option<&ObstacleConstraintConfig>,
    x0: &[f64],
) -> Result<Box<RobotController<R, NX, NU, ObstacleConstraints<NX>>>, ControlError> {
    let config = with_defaults(config, robot.input_bounds(), R::GOVERNOR);
    let points = BodyPoints::new(move |x, f| robot.body_point(x, f));
    let constraints = match R::POSITION_STATES {
        // A deformable body fixed to its base: rows on its points.
        0 => match (obstacles, points) {
            (Some(c), Some(points)) if NX >= 3 => {
                ObstacleConstraints::new(c, 0, 3)?.with_points(Some(points))
            }
            _ => ObstacleConstraints::disabled(0, 0),
        },
        dims => keep_out(
            BodyExtent::new(robot.body(), move |x| robot.pose(x)),
            obstacles,
            dims,
        )?,
    };
    let mut controller = build(
        robot,
        &config,
        residual,
        x0,
        robot.safe_input(),
        constraints,
    )?;
    robot.install_recovery(&mut controller.mpc);
    Ok(controller)
}

/// The robot's own input limits where `[controller]` gives none, and its
/// position governor (`position_dims` states, `max_lead`) where
/// `[controller.governor]` is absent.
fn with_defaults<const N: usize>(
    config: &MpcConfig,
    bounds: Bounds<N>,
    governor: Option<(usize, Governor)>,
) -> MpcConfig {
    let mut config = config.clone();
    if config.governor.is_none() {
        config.governor = governor.map(|(dims, g)| position_governor(dims, g));
    }
    config
        .input_min
        .get_or_insert_with(|| bounds.lower.to_vec());
    config
        .input_max
        .get_or_insert_with(|| bounds.upper.to_vec());
    config
}

fn build<D, C, const NX: usize, const NU: usize>(
    dynamics: D,
    config: &MpcConfig,
    residual: Option<&ResidualConfig>,
    x0: &[f64],
    u0: SVector<f64, NU>,
    constraints: C,
) -> Result<Box<RobotController<D, NX, NU, C>>, ControlError>
where
    D: recede_model::Dynamics<NX, NU>,
    C: StageConstraints<NX>,
{
    let spec = config.to_spec::<NX, NU>()?;
    let x0 = vector::<NX>("initial state", x0)?;
    let evaluation = residual.map(|r| r.evaluation).unwrap_or_default();
    let (model, adaptation) = match residual {
        None => (ResidualModel::None, None),
        Some(r) => {
            let model = ResidualModel::<NX, NU>::load(&r.model)?;
            let adaptation = match (&model, r.adaptation) {
                (ResidualModel::Mlp(mlp), Some(rls)) => Some(
                    Adaptation::new(mlp, rls, config.period_secs()).map_err(|e| {
                        ControlError::Residual {
                            path: r.model.display().to_string(),
                            message: format!("adaptation: {e}"),
                        }
                    })?,
                ),
                _ => None,
            };
            (model, adaptation)
        }
    };
    let model = Discretized::new(
        WithResidual::new(dynamics, model).with_evaluation(evaluation),
        Integrator::new(config.integrator, spec.dt_secs, config.rk4_substeps),
    );
    Ok(Box::new(RobotController {
        mpc: Mpc::new(model, constraints, spec, &x0, &u0)?,
        adaptation,
        period_secs: config.period_secs(),
    }))
}

/// Keep-out rows on the position (the first `dims` states), measured from
/// `robot`'s body where `body_extent` asks, or none.
fn keep_out<const NX: usize>(
    extent: Option<BodyExtent<NX>>,
    obstacles: Option<&ObstacleConstraintConfig>,
    dims: usize,
) -> Result<ObstacleConstraints<NX>, ControlError> {
    match obstacles {
        Some(c) => ObstacleConstraints::new(c, 0, dims)?.with_body(extent),
        None => Ok(ObstacleConstraints::disabled(0, dims)),
    }
}

fn vector<const N: usize>(
    what: &'static str,
    values: &[f64],
) -> Result<SVector<f64, N>, ControlError> {
    if values.len() != N {
        return Err(ControlError::Length {
            what,
            expected: N,
            got: values.len(),
        });
    }
    Ok(SVector::from_column_slice(values))
}

impl Controller {
    /// Builds the controller for `robot` around the initial state `x0`
    /// (every node of the first plan); input bounds the `[controller]`
    /// table leaves out are the robot's own limits.
    /// The nominal model, no residual.
    pub fn new(robot: &RobotConfig, config: &MpcConfig, x0: &[f64]) -> Result<Self, ControlError> {
        Self::with_residual(robot, config, None, x0)
    }

    /// The whole `[controller]` table, residual included (its model path
    /// as given: resolve relative paths first, see
    /// [`ResidualConfig::resolved`]).
    pub fn from_config(
        robot: &RobotConfig,
        config: &ControllerConfig,
        x0: &[f64],
    ) -> Result<Self, ControlError> {
        Self::with_residual(robot, &config.mpc, config.residual.as_ref(), x0)
    }

    /// Physics plus the learned residual of `residual` (loaded from its
    /// model file, checked against the robot's sizes), or the nominal model
    /// when `None`.
    pub fn with_residual(
        robot: &RobotConfig,
        config: &MpcConfig,
        residual: Option<&ResidualConfig>,
        x0: &[f64],
    ) -> Result<Self, ControlError> {
        Self::with_obstacles(robot, config, residual, None, x0)
    }

    /// As [`Self::with_residual`], and for the robots that move among
    /// obstacles (quadrotor, ground robot) `obstacles` soft keep-out rows
    /// per node (for a deformable body, the continuum arm, one per point
    /// along it and obstacle: `guidance::BodyPoints`) ([`Self::set_obstacles`] fills them between steps); none
    /// when `None`.
    pub fn with_obstacles(
        robot: &RobotConfig,
        config: &MpcConfig,
        residual: Option<&ResidualConfig>,
        obstacles: Option<&ObstacleConstraintConfig>,
        x0: &[f64],
    ) -> Result<Self, ControlError> {
        robot.validate()?;
        Self::build_any(robot, config, residual, obstacles, x0)
    }

    /// Replaces the obstacles the plan keeps clear of with the nearest of
    /// `obstacles` to `position` (as many as the controller has rows for;
    /// see [`Self::with_obstacles`]); they enter at the next preparation.
    /// False for robots without obstacle rows (cart-pole, rigid arm, a
    /// continuum arm built without them). Allocates nothing.
    pub fn set_obstacles(&mut self, obstacles: &[Obstacle], position: &Vector3<f64>) -> bool {
        each!(self, m => {
            if !moves_among_obstacles(m) && !m.mpc.constraints_mut().on_body_points() {
                return false;
            }
            m.mpc.constraints_mut().set_obstacles(obstacles, position);
            true
        })
    }

    /// The residual's guard counters and adaptation counts; `None` without
    /// a learned residual.
    pub fn residual_stats(&self) -> Option<ResidualStats> {
        each!(self, m => match &m.mpc.model().dynamics.residual {
            ResidualModel::None => None,
            ResidualModel::Mlp(mlp) => Some(ResidualStats::new(
                mlp.guard_stats(),
                m.adaptation.as_ref().map(|a| (a.enabled(), a.stats())),
            )),
        })
    }

    /// The implicit midpoint rule's Newton counts (iterations, failures);
    /// `None` when the model is integrated by RK4.
    pub fn newton_stats(&self) -> Option<NewtonStats> {
        each!(self, m => m.mpc.model().integrator.newton_stats())
    }

    /// Switches online adaptation on or off; false when there is none to
    /// switch (no residual, or no `adaptation` table).
    pub fn set_adaptation_enabled(&mut self, enabled: bool) -> bool {
        each!(self, m => match &mut m.adaptation {
            Some(a) => {
                a.set_enabled(enabled);
                true
            }
            None => false,
        })
    }

    /// (states, inputs, horizon).
    pub fn dimensions(&self) -> (usize, usize, usize) {
        each!(self, m => {
            let (xs, us) = m.mpc.plan();
            (xs[0].len(), us[0].len(), us.len())
        })
    }

    /// The control period the plan is shifted by after each step, s.
    pub fn period_secs(&self) -> f64 {
        each!(self, m => m.period_secs)
    }

    pub fn dt_secs(&self) -> f64 {
        each!(self, m => m.mpc.spec().dt_secs)
    }

    /// Sets the reference of node `k` (0..=N for states, 0..N for inputs).
    /// Lengths are checked; nothing is allocated.
    pub fn set_reference(
        &mut self,
        node: usize,
        x: &[f64],
        u: Option<&[f64]>,
    ) -> Result<(), ControlError> {
        each!(self, m => {
            let (xr, ur) = m.mpc.references_mut();
            let n = ur.len();
            if node > n {
                return Err(ControlError::Length { what: "reference node", expected: n + 1, got: node + 1 });
            }
            copy_checked("state reference", x, xr[node].as_mut_slice())?;
            if let Some(u) = u {
                if node < n {
                    copy_checked("input reference", u, ur[node].as_mut_slice())?;
                }
            }
            Ok(())
        })
    }

    /// Sets the same reference at every node.
    pub fn set_constant_reference(&mut self, x: &[f64], u: &[f64]) -> Result<(), ControlError> {
        let (_, _, n) = self.dimensions();
        for k in 0..=n {
            self.set_reference(k, x, Some(u))?;
        }
        Ok(())
    }

    /// One control step from the estimated state `x`; the command goes to
    /// `command`. With adaptation on, the transition from the previous
    /// step's state and command to `x` (one control period later) first
    /// updates the residual. Never allocates, never panics.
    pub fn step(&mut self, x: &[f64], command: &mut [f64]) -> Result<StepReport, ControlError> {
        each!(self, m => {
            let period = m.period_secs;
            let (x0, mut u) = checked_io(&m.mpc, x, command)?;
            if let Some(adaptation) = &mut m.adaptation {
                let WithResidual {
                    nominal, residual, ..
                } = &mut m.mpc.model_mut().dynamics;
                if let ResidualModel::Mlp(mlp) = residual {
                    adaptation.observe(nominal, mlp, &x0);
                }
            }
            let report = m.mpc.step(&x0, period, &mut u);
            if let Some(adaptation) = &mut m.adaptation {
                adaptation.record(&x0, &u);
            }
            command.copy_from_slice(u.as_slice());
            Ok(report)
        })
    }

    /// The predicted states of the current plan, flattened node by node
    /// into `out` (length (N+1) * NX).
    pub fn predicted_states(&self, out: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (xs, _) = m.mpc.plan();
            let nx = xs[0].len();
            if out.len() != xs.len() * nx {
                return Err(ControlError::Length { what: "predicted states", expected: xs.len() * nx, got: out.len() });
            }
            for (chunk, x) in out.chunks_exact_mut(nx).zip(xs) {
                chunk.copy_from_slice(x.as_slice());
            }
            Ok(())
        })
    }

    /// The current plan's input `after_secs` after its first node
    /// (linear between nodes, the last one held): what the shifted plan
    /// applies when the next step is late. Never allocates.
    pub fn planned_input(&self, after_secs: f64, out: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (_, us) = m.mpc.plan();
            let nu = us[0].len();
            if out.len() != nu {
                return Err(ControlError::Length { what: "planned input", expected: nu, got: out.len() });
            }
            let a = (after_secs / m.mpc.spec().dt_secs).max(0.0);
            let i = (a.floor() as usize).min(us.len() - 1);
            let j = (i + 1).min(us.len() - 1);
            let f = (a - i as f64).clamp(0.0, 1.0);
            for (c, o) in out.iter_mut().enumerate() {
                *o = us[i][c] * (1.0 - f) + us[j][c] * f;
            }
            Ok(())
        })
    }

    /// The `[controller.fallback]` safe input.
    pub fn safe_input(&self, out: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => copy_checked("safe input", m.mpc.spec().safe_input.as_slice(), out))
    }

    /// The safe input for the state `x`: the robot's recovery policy where
    /// it has one (the quadrotor turns itself upright), else the
    /// `[controller.fallback]` safe input; within the input bounds.
    pub fn safe_input_at(&self, x: &[f64], out: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let x = vector("state", x)?;
            copy_checked("safe input", m.mpc.safe_input_at(&x).as_slice(), out)
        })
    }

    /// Fallbacks since the controller was built, by kind.
    pub fn fallback_counts(&self) -> recede_mpc::FallbackCounts {
        each!(self, m => m.mpc.fallback_counts())
    }

    /// Samples `reference` at the nodes' times from `t_secs` on into the
    /// reference window; `scratch_x`/`scratch_u` (lengths nx, nu) avoid
    /// allocating. A reference whose input is computed
    /// (`input = "inverse_dynamics"`) gets, at each node, the input under
    /// which the robot's physics (this controller's model without its
    /// learned residual) has the reference's state derivative. Returns the
    /// nodes where that had no answer (the model's input Jacobian without
    /// full column rank there): they hold the safe input instead.
    pub fn track(
        &mut self,
        reference: &crate::ReferenceConfig,
        t_secs: f64,
        scratch_x: &mut [f64],
        scratch_u: &mut [f64],
    ) -> Result<usize, ControlError> {
        let (_, _, n) = self.dimensions();
        let dt = self.dt_secs();
        let mut unsolved = 0;
        for k in 0..=n {
            let t = t_secs + k as f64 * dt;
            reference.sample(t, scratch_x, scratch_u);
            if let Some(sines) = reference.computed_input() {
                let solved = each!(self, m => feed_forward(m, sines, t, scratch_x, scratch_u))?;
                unsolved += usize::from(!solved);
            }
            self.set_reference(k, scratch_x, Some(scratch_u))?;
        }
        Ok(unsolved)
    }

    pub fn last_report(&self) -> StepReport {
        each!(self, m => *m.mpc.last_report())
    }

    /// Forgets the plan and restarts from `x` holding the safe input.
    pub fn reset(&mut self, x: &[f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let x = vector("state", x)?;
            let safe = m.mpc.spec().safe_input;
            m.mpc.reset(&x, &safe);
            if let Some(adaptation) = &mut m.adaptation {
                adaptation.forget();
            }
            Ok(())
        })
    }
}

/// The input under which `m`'s physics has `sines`' state derivative at
/// `t` and the state `x`, into `u`; the safe input (and false) when it has
/// no answer there.
fn feed_forward<D, C, const NX: usize, const NU: usize>(
    m: &RobotController<D, NX, NU, C>,
    sines: &crate::Sines,
    t: f64,
    x: &[f64],
    u: &mut [f64],
) -> Result<bool, ControlError>
where
    D: recede_model::Dynamics<NX, NU>,
    C: StageConstraints<NX>,
{
    let state = vector::<NX>("state reference", x)?;
    let mut input = m.mpc.spec().safe_input;
    let solved = sines.model_input(&m.mpc.model().dynamics.nominal, t, &state, &mut input);
    copy_checked("input reference", input.as_slice(), u)?;
    Ok(solved)
}

fn copy_checked(what: &'static str, from: &[f64], to: &mut [f64]) -> Result<(), ControlError> {
    if from.len() != to.len() {
        return Err(ControlError::Length {
            what,
            expected: to.len(),
            got: from.len(),
        });
    }
    to.copy_from_slice(from);
    Ok(())
}

fn checked_io<M, C, const NX: usize, const NU: usize>(
    _: &Mpc<M, C, NX, NU>,
    x: &[f64],
    command: &[f64],
) -> Result<(SVector<f64, NX>, SVector<f64, NU>), ControlError> {
    let x0 = vector::<NX>("state", x)?;
    let u = vector::<NU>("command buffer", command)?;
    Ok((x0, u))
}

mod setters;

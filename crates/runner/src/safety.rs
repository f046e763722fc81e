//! What a run did that it should not have: collisions, bounds exceeded,
//! commands out of range, long stretches on the safe input. Scored on the
//! true state at every control instant; part of every run summary.

use recede_model::robots::RobotConfig;
use recede_mpc::MpcConfig;
use recede_rt::{CommandSource, StepRecord};
use recede_sim::config::WorldConfig;
use recede_sim::contact::ContactMonitor;
use serde::Serialize;

/// Tolerance before a bound counts as broken (rounding, not physics).
const BOUND_TOLERANCE: f64 = 1e-6;

/// One state bound over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoundReport {
    /// The bound as the scenario names it: `state_bounds[0].max`.
    pub key: String,
    pub index: usize,
    pub limit: f64,
    /// Hard bounds must hold; soft bounds are penalised when exceeded.
    pub soft: bool,
    /// Control instants at which the true state was beyond the bound.
    pub violations: usize,
    /// Largest excess beyond the bound, in the state's unit (0 when kept).
    pub worst_excess: f64,
}

/// The safety part of a run summary (flattened into its JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Safety {
    /// Contact episodes of the body with a world object or (for a flying
    /// robot) the ground; a run with any has not reached its goal.
    pub collisions: u64,
    /// When the first contact began, s.
    pub first_collision_secs: Option<f64>,
    /// What it touched: an object's name or `ground`.
    pub first_collision_with: Option<String>,
    /// Deepest penetration of the body into anything, m.
    pub max_penetration_m: f64,
    /// Smallest distance from the body's surface to a world object, m
    /// (the balls the contact check counts, sampled as it samples; the
    /// ground not counted): negative exactly when the body touched one.
    #[serde(skip)]
    pub min_body_clearance_m: Option<f64>,
    /// Control instants at which the true state broke a hard state bound.
    pub constraint_violations: usize,
    /// Control instants at which it exceeded a soft state bound.
    pub soft_bound_violations: usize,
    /// Every state bound: its violations and worst excess.
    pub bounds: Vec<BoundReport>,
    /// Commands with a non-finite entry or an entry outside the input bounds.
    pub commands_out_of_bounds: usize,
    /// Longest stretch applying the safe input, s.
    pub longest_safe_input_secs: f64,
}

/// The robot's own input limits (what the controller uses when the
/// scenario sets none).
fn actuator_limits(robot: &RobotConfig) -> (Vec<f64>, Vec<f64>) {
    let sym = |v: &[f64]| (v.iter().map(|a| -a).collect(), v.to_vec());
    match robot {
        RobotConfig::Quadrotor(p) => (vec![p.min_thrust_n; 4], vec![p.max_thrust_n; 4]),
        RobotConfig::CartPole(p) => sym(&[p.max_force_n]),
        RobotConfig::DiffDrive(p) => sym(&[p.max_accel_m_s2, p.max_yaw_accel_rad_s2]),
        RobotConfig::Arm(p) => sym(&[p.max_torque1_n_m, p.max_torque2_n_m]),
        RobotConfig::SoftCartPole(p) => sym(&[p.max_force_n]),
        RobotConfig::ContinuumArm(p) => (vec![0.0; 6], vec![p.max_tension_n; 6]),
        RobotConfig::ModelFile(f) => f.model().map_or((vec![], vec![]), |m| {
            (m.input_min.clone(), m.input_max.clone())
        }),
    }
}

/// Accumulates [`Safety`] step by step; allocates only when built.
#[derive(Debug)]
pub struct SafetyScore {
    contact: ContactMonitor,
    bounds: Vec<BoundReport>,
    u_min: Vec<f64>,
    u_max: Vec<f64>,
    hard_steps: usize,
    soft_steps: usize,
    commands_out: usize,
    safe_since: Option<f64>,
    longest_safe: f64,
    last_t: f64,
}

impl SafetyScore {
    pub fn new(
        robot: &RobotConfig,
        mpc: &MpcConfig,
        world: &WorldConfig,
    ) -> Result<Self, recede_sim::ConfigError> {
        let mut bounds = Vec::new();
        for (n, b) in mpc.state_bounds.iter().enumerate() {
            for (side, limit) in [("min", b.min), ("max", b.max)] {
                if let Some(limit) = limit {
                    bounds.push(BoundReport {
                        key: format!("state_bounds[{n}].{side}"),
                        index: b.index,
                        limit,
                        soft: b.soft.is_some(),
                        violations: 0,
                        worst_excess: 0.0,
                    });
                }
            }
        }
        // The table's input bounds, else the robot's actuator limits (as
        // the controller takes them).
        let (lo, hi) = actuator_limits(robot);
        let u_min = mpc.input_min.clone().unwrap_or(lo);
        let u_max = mpc.input_max.clone().unwrap_or(hi);
        Ok(Self {
            contact: ContactMonitor::new(robot, world)?,
            bounds,
            u_min,
            u_max,
            hard_steps: 0,
            soft_steps: 0,
            commands_out: 0,
            safe_since: None,
            longest_safe: 0.0,
            last_t: 0.0,
        })
    }

    /// Counts contacts of a deformable body's true shape (the plant's
    /// `points` nodes of a rod of `radius_m`) rather than of its
    /// controller-model state's balls.
    pub fn with_shape(mut self, points: usize, radius_m: f64) -> Self {
        self.contact = self.contact.with_shape(points, radius_m);
        self
    }

    pub fn observe(&mut self, r: &StepRecord<'_>) {
        let x = r.true_state;
        self.contact.observe_shape(r.t_secs, x, r.true_shape);
        let (mut hard, mut soft) = (false, false);
        for b in &mut self.bounds {
            let Some(&v) = x.get(b.index) else { continue };
            let excess = if b.key.ends_with("min") {
                b.limit - v
            } else {
                v - b.limit
            };
            // A non-finite state breaks every bound it has.
            let excess = if v.is_finite() { excess } else { f64::INFINITY };
            if excess > BOUND_TOLERANCE {
                b.violations += 1;
                b.worst_excess = b.worst_excess.max(excess);
                if b.soft {
                    soft = true;
                } else {
                    hard = true;
                }
            }
        }
        self.hard_steps += usize::from(hard);
        self.soft_steps += usize::from(soft);
        let out = r.command.iter().enumerate().any(|(i, u)| {
            !u.is_finite()
                || self
                    .u_min
                    .get(i)
                    .is_some_and(|lo| *u < lo - BOUND_TOLERANCE)
                || self
                    .u_max
                    .get(i)
                    .is_some_and(|hi| *u > hi + BOUND_TOLERANCE)
        });
        self.commands_out += usize::from(out);
        let safe = r.source == CommandSource::Safe || r.status.is_some_and(|s| s.safe_input);
        match (safe, self.safe_since) {
            (true, None) => self.safe_since = Some(r.t_secs),
            (false, Some(_)) => self.safe_since = None,
            _ => {}
        }
        if let Some(since) = self.safe_since {
            // The safe input acts until the next instant: count through it.
            let period = (r.t_secs - self.last_t).max(0.0);
            self.longest_safe = self.longest_safe.max(r.t_secs - since + period);
        }
        self.last_t = r.t_secs;
    }

    pub fn summary(&self) -> Safety {
        let c = self.contact.tally();
        Safety {
            collisions: c.episodes,
            first_collision_secs: c.first_secs,
            first_collision_with: c.first_with.clone(),
            max_penetration_m: c.deepest_m,
            min_body_clearance_m: c.min_clearance_m,
            constraint_violations: self.hard_steps,
            soft_bound_violations: self.soft_steps,
            bounds: self.bounds.clone(),
            commands_out_of_bounds: self.commands_out,
            longest_safe_input_secs: self.longest_safe,
        }
    }
}

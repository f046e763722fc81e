//! The scenario file's `[plant]` section: which robot, its nominal
//! parameters, the effects its controller does not know, actuators and
//! scripted disturbances.

use nalgebra::{SVector, Vector3};
use recede_model::robots::{
    Arm, ArmParams, CartPole, CartPoleParams, DiffDrive, DiffDriveParams, Quadrotor,
    QuadrotorParams,
};
use serde::{Deserialize, Serialize};

use super::check::{fail, finite_all, non_negative, non_negative_all, positive};
use crate::plant::{
    Actuator, ArmTruth, CartPoleTruth, DiffDriveTruth, Disturbance, Disturbances, Plant,
    QuadrotorTruth, TrueDynamics, TruePlant,
};
use crate::{ConfigError, SimError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantConfig {
    pub robot: RobotConfig,
    #[serde(default = "default_integration_rate")]
    pub integration_rate_hz: f64,
    #[serde(default)]
    pub actuator: ActuatorConfig,
    #[serde(default)]
    pub disturbances: Vec<DisturbanceConfig>,
    /// In the nominal model's state layout; the robot's rest state when absent.
    #[serde(default)]
    pub initial_state: Option<Vec<f64>>,
}

fn default_integration_rate() -> f64 {
    1000.0
}

/// The robot and its unmodelled effects. Defaults: the quadrotor carries
/// P2's drag; the other robots' effects are zero unless set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RobotConfig {
    Quadrotor {
        #[serde(default)]
        params: QuadrotorParams,
        #[serde(default = "p2_drag_linear")]
        drag_linear_n_s_per_m: [f64; 3],
        #[serde(default = "p2_drag_quadratic")]
        drag_quadratic_n_s2_per_m2: [f64; 3],
    },
    CartPole {
        #[serde(default)]
        params: CartPoleParams,
        #[serde(default)]
        cart_viscous_friction_n_s_per_m: f64,
        #[serde(default)]
        cart_coulomb_friction_n: f64,
        #[serde(default = "default_smoothing")]
        coulomb_smoothing_mps: f64,
        #[serde(default)]
        pole_damping_n_m_s_per_rad: f64,
    },
    DiffDrive {
        #[serde(default)]
        params: DiffDriveParams,
        #[serde(default)]
        rolling_resistance_coeff: f64,
        #[serde(default = "default_smoothing")]
        coulomb_smoothing_mps: f64,
        #[serde(default)]
        speed_drag_per_sec: f64,
        #[serde(default)]
        yaw_drag_per_sec: f64,
        #[serde(default)]
        wheel_slip_ratio: f64,
        #[serde(default = "default_ground_robot_mass")]
        mass_kg: f64,
    },
    Arm {
        #[serde(default)]
        params: ArmParams,
        #[serde(default)]
        extra_payload_kg: f64,
        #[serde(default)]
        joint_viscous_friction_n_m_s_per_rad: [f64; 2],
        #[serde(default)]
        joint_coulomb_friction_n_m: [f64; 2],
        #[serde(default = "default_smoothing")]
        coulomb_smoothing_radps: f64,
        #[serde(default)]
        base_m: [f64; 3],
    },
}

fn p2_drag_linear() -> [f64; 3] {
    [0.30, 0.30, 0.10]
}
fn p2_drag_quadratic() -> [f64; 3] {
    [0.025, 0.025, 0.015]
}
fn default_smoothing() -> f64 {
    0.01
}
fn default_ground_robot_mass() -> f64 {
    10.0
}

/// Saturation limits default to the robot's input bounds (cart-pole: P1's
/// |F| <= 80 N).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActuatorConfig {
    pub lower: Option<Vec<f64>>,
    pub upper: Option<Vec<f64>>,
    /// Per channel, units of the input per second; absent = none.
    pub rate_limit_per_sec: Option<Vec<f64>>,
    /// 0 = no lag.
    pub lag_time_constant_secs: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DisturbanceConfig {
    Push {
        start_secs: f64,
        duration_secs: f64,
        force_n: [f64; 3],
    },
    Gust {
        start_secs: f64,
        duration_secs: f64,
        #[serde(default)]
        mean_wind_mps: [f64; 3],
        #[serde(default)]
        std_mps: f64,
        #[serde(default = "default_gust_correlation")]
        correlation_time_secs: f64,
    },
}

fn default_gust_correlation() -> f64 {
    0.5
}

impl PlantConfig {
    /// The number of inputs of the configured robot.
    pub fn input_len(&self) -> usize {
        match self.robot {
            RobotConfig::Quadrotor { .. } => 4,
            RobotConfig::CartPole { .. } => 1,
            RobotConfig::DiffDrive { .. } | RobotConfig::Arm { .. } => 2,
        }
    }

    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("plant.integration_rate_hz", self.integration_rate_hz)?;
        self.robot.validate()?;
        let nu = self.input_len();
        let a = &self.actuator;
        for (key, v) in [
            ("lower", &a.lower),
            ("upper", &a.upper),
            ("rate_limit_per_sec", &a.rate_limit_per_sec),
        ] {
            if let Some(v) = v {
                let key = format!("plant.actuator.{key}");
                if v.len() != nu {
                    return Err(fail(&key, &format!("{nu} entries, one per input"), v.len()));
                }
                if key.ends_with("rate_limit_per_sec") {
                    for (i, r) in v.iter().enumerate() {
                        positive(&format!("{key}[{i}]"), *r)?;
                    }
                } else {
                    finite_all(&key, v)?;
                }
            }
        }
        if let (Some(lo), Some(hi)) = (&a.lower, &a.upper) {
            if let Some(i) = (0..nu).find(|&i| lo[i] > hi[i]) {
                return Err(fail(
                    &format!("plant.actuator.upper[{i}]"),
                    ">= lower",
                    hi[i],
                ));
            }
        }
        non_negative(
            "plant.actuator.lag_time_constant_secs",
            a.lag_time_constant_secs,
        )?;
        for (i, d) in self.disturbances.iter().enumerate() {
            d.validate(&format!("plant.disturbances[{i}]"), &self.robot)?;
        }
        Ok(())
    }

    /// Validates, then builds the plant; disturbance streams derive from `seed`.
    pub fn build(&self, seed: u64) -> Result<Box<dyn Plant>, SimError> {
        self.validate()?;
        let h = 1.0 / self.integration_rate_hz;
        let dist = Disturbances::new(
            self.disturbances
                .iter()
                .map(DisturbanceConfig::disturbance)
                .collect(),
            seed,
        );
        let model_err = |e| SimError::Model {
            key: "plant.robot.params".into(),
            source: e,
        };
        match &self.robot {
            RobotConfig::Quadrotor {
                params,
                drag_linear_n_s_per_m,
                drag_quadratic_n_s2_per_m2,
            } => {
                let nominal = Quadrotor::new(*params).map_err(model_err)?;
                let b = nominal.input_bounds();
                let truth = QuadrotorTruth {
                    nominal,
                    drag_linear: Vector3::from(*drag_linear_n_s_per_m),
                    drag_quadratic: Vector3::from(*drag_quadratic_n_s2_per_m2),
                };
                let x0 = Quadrotor::hover_state([0.0; 3]);
                self.assemble(
                    truth,
                    (b.lower, b.upper),
                    nominal.hover_input().into(),
                    dist,
                    h,
                    x0,
                )
            }
            RobotConfig::CartPole {
                params,
                cart_viscous_friction_n_s_per_m,
                cart_coulomb_friction_n,
                coulomb_smoothing_mps,
                pole_damping_n_m_s_per_rad,
            } => {
                let nominal = CartPole::new(*params).map_err(model_err)?;
                let b = nominal.input_bounds();
                let truth = CartPoleTruth {
                    nominal,
                    cart_viscous_friction: *cart_viscous_friction_n_s_per_m,
                    cart_coulomb_friction: *cart_coulomb_friction_n,
                    coulomb_smoothing_mps: *coulomb_smoothing_mps,
                    pole_damping: *pole_damping_n_m_s_per_rad,
                };
                self.assemble(truth, (b.lower, b.upper), [0.0], dist, h, SVector::zeros())
            }
            RobotConfig::DiffDrive {
                params,
                rolling_resistance_coeff,
                coulomb_smoothing_mps,
                speed_drag_per_sec,
                yaw_drag_per_sec,
                wheel_slip_ratio,
                mass_kg,
            } => {
                let nominal = DiffDrive::new(*params).map_err(model_err)?;
                let b = nominal.input_bounds();
                let truth = DiffDriveTruth {
                    nominal,
                    rolling_resistance: *rolling_resistance_coeff,
                    coulomb_smoothing_mps: *coulomb_smoothing_mps,
                    speed_drag_per_sec: *speed_drag_per_sec,
                    yaw_drag_per_sec: *yaw_drag_per_sec,
                    wheel_slip_ratio: *wheel_slip_ratio,
                    mass_kg: *mass_kg,
                };
                self.assemble(
                    truth,
                    (b.lower, b.upper),
                    [0.0; 2],
                    dist,
                    h,
                    SVector::zeros(),
                )
            }
            RobotConfig::Arm {
                params,
                extra_payload_kg,
                joint_viscous_friction_n_m_s_per_rad,
                joint_coulomb_friction_n_m,
                coulomb_smoothing_radps,
                base_m,
            } => {
                let nominal = Arm::new(*params).map_err(model_err)?;
                let b = nominal.input_bounds();
                let truth = ArmTruth::new(
                    nominal,
                    *extra_payload_kg,
                    *joint_viscous_friction_n_m_s_per_rad,
                    *joint_coulomb_friction_n_m,
                    *coulomb_smoothing_radps,
                    Vector3::from(*base_m),
                );
                self.assemble(
                    truth,
                    (b.lower, b.upper),
                    [0.0; 2],
                    dist,
                    h,
                    SVector::zeros(),
                )
            }
        }
    }

    fn assemble<R, const NX: usize, const NU: usize>(
        &self,
        truth: R,
        bounds: ([f64; NU], [f64; NU]),
        rest_input: [f64; NU],
        dist: Disturbances,
        h: f64,
        rest_state: SVector<f64, NX>,
    ) -> Result<Box<dyn Plant>, SimError>
    where
        R: TrueDynamics<NX, NU> + 'static,
    {
        let a = &self.actuator;
        let pick = |v: &Option<Vec<f64>>, default: [f64; NU]| {
            v.as_ref()
                .map_or(default, |v| std::array::from_fn(|i| v[i]))
        };
        let mut actuator = Actuator::new(
            pick(&a.lower, bounds.0),
            pick(&a.upper, bounds.1),
            rest_input,
        );
        actuator.rate_limit_per_sec = pick(&a.rate_limit_per_sec, [f64::INFINITY; NU]);
        actuator.lag_time_constant_secs = a.lag_time_constant_secs;
        let mut plant = TruePlant::new(truth, actuator, dist, h, rest_state)?;
        if let Some(x0) = &self.initial_state {
            plant.set_state(x0).map_err(|_| {
                SimError::Config(fail(
                    "plant.initial_state",
                    &format!("{NX} entries"),
                    x0.len(),
                ))
            })?;
        }
        Ok(Box::new(plant))
    }
}

impl RobotConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let k = "plant.robot";
        match self {
            RobotConfig::Quadrotor {
                drag_linear_n_s_per_m,
                drag_quadratic_n_s2_per_m2,
                ..
            } => {
                non_negative_all(&format!("{k}.drag_linear_n_s_per_m"), drag_linear_n_s_per_m)?;
                non_negative_all(
                    &format!("{k}.drag_quadratic_n_s2_per_m2"),
                    drag_quadratic_n_s2_per_m2,
                )
            }
            RobotConfig::CartPole {
                cart_viscous_friction_n_s_per_m,
                cart_coulomb_friction_n,
                coulomb_smoothing_mps,
                pole_damping_n_m_s_per_rad,
                ..
            } => {
                non_negative(
                    &format!("{k}.cart_viscous_friction_n_s_per_m"),
                    *cart_viscous_friction_n_s_per_m,
                )?;
                non_negative(
                    &format!("{k}.cart_coulomb_friction_n"),
                    *cart_coulomb_friction_n,
                )?;
                positive(
                    &format!("{k}.coulomb_smoothing_mps"),
                    *coulomb_smoothing_mps,
                )?;
                non_negative(
                    &format!("{k}.pole_damping_n_m_s_per_rad"),
                    *pole_damping_n_m_s_per_rad,
                )
            }
            RobotConfig::DiffDrive {
                rolling_resistance_coeff,
                coulomb_smoothing_mps,
                speed_drag_per_sec,
                yaw_drag_per_sec,
                wheel_slip_ratio,
                mass_kg,
                ..
            } => {
                non_negative(
                    &format!("{k}.rolling_resistance_coeff"),
                    *rolling_resistance_coeff,
                )?;
                positive(
                    &format!("{k}.coulomb_smoothing_mps"),
                    *coulomb_smoothing_mps,
                )?;
                non_negative(&format!("{k}.speed_drag_per_sec"), *speed_drag_per_sec)?;
                non_negative(&format!("{k}.yaw_drag_per_sec"), *yaw_drag_per_sec)?;
                positive(&format!("{k}.mass_kg"), *mass_kg)?;
                if !(0.0..1.0).contains(wheel_slip_ratio) {
                    return Err(fail(
                        &format!("{k}.wheel_slip_ratio"),
                        "a value in [0, 1)",
                        wheel_slip_ratio,
                    ));
                }
                Ok(())
            }
            RobotConfig::Arm {
                extra_payload_kg,
                joint_viscous_friction_n_m_s_per_rad,
                joint_coulomb_friction_n_m,
                coulomb_smoothing_radps,
                base_m,
                ..
            } => {
                non_negative(&format!("{k}.extra_payload_kg"), *extra_payload_kg)?;
                non_negative_all(
                    &format!("{k}.joint_viscous_friction_n_m_s_per_rad"),
                    joint_viscous_friction_n_m_s_per_rad,
                )?;
                non_negative_all(
                    &format!("{k}.joint_coulomb_friction_n_m"),
                    joint_coulomb_friction_n_m,
                )?;
                positive(
                    &format!("{k}.coulomb_smoothing_radps"),
                    *coulomb_smoothing_radps,
                )?;
                finite_all(&format!("{k}.base_m"), base_m)
            }
        }
    }
}

impl DisturbanceConfig {
    fn validate(&self, key: &str, robot: &RobotConfig) -> Result<(), ConfigError> {
        match self {
            DisturbanceConfig::Push {
                start_secs,
                duration_secs,
                force_n,
            } => {
                non_negative(&format!("{key}.start_secs"), *start_secs)?;
                non_negative(&format!("{key}.duration_secs"), *duration_secs)?;
                finite_all(&format!("{key}.force_n"), force_n)
            }
            DisturbanceConfig::Gust {
                start_secs,
                duration_secs,
                mean_wind_mps,
                std_mps,
                correlation_time_secs,
            } => {
                if !matches!(robot, RobotConfig::Quadrotor { .. }) {
                    return Err(fail(
                        &format!("{key}.kind"),
                        "a disturbance this robot feels (gusts act on the quadrotor only)",
                        "gust",
                    ));
                }
                non_negative(&format!("{key}.start_secs"), *start_secs)?;
                non_negative(&format!("{key}.duration_secs"), *duration_secs)?;
                finite_all(&format!("{key}.mean_wind_mps"), mean_wind_mps)?;
                non_negative(&format!("{key}.std_mps"), *std_mps)?;
                positive(
                    &format!("{key}.correlation_time_secs"),
                    *correlation_time_secs,
                )
            }
        }
    }

    fn disturbance(&self) -> Disturbance {
        match *self {
            DisturbanceConfig::Push {
                start_secs,
                duration_secs,
                force_n,
            } => Disturbance::Push {
                start_secs,
                duration_secs,
                force_n: Vector3::from(force_n),
            },
            DisturbanceConfig::Gust {
                start_secs,
                duration_secs,
                mean_wind_mps,
                std_mps,
                correlation_time_secs,
            } => Disturbance::Gust {
                start_secs,
                duration_secs,
                mean_wind_mps: Vector3::from(mean_wind_mps),
                std_mps,
                correlation_time_secs,
            },
        }
    }
}

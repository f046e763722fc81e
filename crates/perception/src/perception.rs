//! The facade the loop drives: every reading goes in through
//! [`Perception::on_reading`], commands through [`Perception::on_command`];
//! the estimate, obstacles and targets come out.

use nalgebra::{Isometry3, Vector3};
use recede_model::file::{FileRobot, ModelFile};
use recede_model::robots::{Arm, CartPole, ContinuumArm, DiffDrive, Quadrotor, RobotConfig};
use recede_msg::{Measurement, Reading, SensorId, SensorInfo, SensorKind, WorldModel, MAX_DIM};
use serde::Serialize;

use crate::kalman::Outcome;
use crate::model_filter::{FileSensing, Kind, ModelFilter, ModelNoise};
use crate::quadrotor::{QuadFilter, QuadNoise};
use crate::timeline::{Event, Filter, Timeline};
use crate::{
    EkfConfig, Obstacle, ObstacleMapper, PerceptionConfig, PerceptionError, Registration, Target,
    TargetFinder,
};

/// The state estimate at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub time_secs: f64,
    /// In the robot's state layout.
    pub state: Vec<f64>,
    /// Standard deviation of each state entry (for a quaternion, of its
    /// vector part; 0 for `w`).
    pub std: Vec<f64>,
}

/// What became of one sensor's readings.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SensorStats {
    pub name: String,
    pub kind: Option<SensorKind>,
    /// Readings handed to perception.
    pub delivered: u64,
    /// Samples that never arrived (gaps in the sensor's sample sequence).
    pub dropped: u64,
    /// Outside their Mahalanobis gate.
    pub rejected: u64,
    /// Used after `gate_reset_after` rejections in a row (across this
    /// filter's measurements), with the covariance re-opened.
    pub gate_resets: u64,
    /// Refused as not finite.
    pub non_finite: u64,
    /// Older than the filter's history.
    pub too_late: u64,
    #[serde(skip)]
    last_index: Option<i64>,
}

enum Estimator {
    Quadrotor(Box<Timeline<QuadFilter>>),
    DiffDrive(Timeline<ModelFilter<DiffDrive, 5, 2>>),
    CartPole(Timeline<ModelFilter<CartPole, 4, 1>>),
    Arm(Timeline<ModelFilter<Arm, 4, 2>>),
    ContinuumArm(Box<Timeline<ModelFilter<ContinuumArm, 6, 6>>>),
    File(FileEstimator),
}

macro_rules! file_estimators {
    ([$d:tt] $(($variant:ident, $nx:literal, $nu:literal)),* $(,)?) => {
        /// A model file or URDF robot's filter, one variant per supported
        /// size (`recede_model::for_each_file_size!`): fixed-size storage,
        /// as the controller's (boxed: they differ by kilobytes).
        enum FileEstimator {
            $($variant(Box<Timeline<ModelFilter<FileRobot<$nx, $nu>, $nx, $nu>>>),)*
        }

        const _: () = {
            $(assert!($nx <= MAX_DIM && $nu <= MAX_DIM);)*
        };

        /// Runs `$body` with `$t` bound to the timeline, whatever the size.
        macro_rules! each_file {
            ($d e:expr, $d t:ident => $d body:expr) => {
                match $d e {
                    $(FileEstimator::$variant($d t) => $d body,)*
                }
            };
        }

        impl FileEstimator {
            fn build(
                model: &std::sync::Arc<ModelFile>,
                x0: &[f64],
                std0: &[f64],
                q_std: &[f64],
                noise: ModelNoise,
                history_secs: f64,
                capacity: usize,
            ) -> Result<Self, PerceptionError> {
                let kind = Kind::File(FileSensing::new(model));
                $(if (model.nx(), model.nu()) == ($nx, $nu) {
                    let robot = FileRobot::<$nx, $nu>::new(model.clone())
                        .map_err(recede_model::ModelError::from)?;
                    let filter = ModelFilter::new(robot, kind, x0, std0, q_std, noise);
                    return Ok(Self::$variant(Box::new(Timeline::new(filter, history_secs, capacity))));
                })*
                Err(recede_model::ModelError::from(recede_model::file::FileError::UnsupportedSize {
                    file: model.origin.clone(),
                    nx: model.nx(),
                    nu: model.nu(),
                    supported: recede_model::file::supported_sizes(),
                })
                .into())
            }
        }
    };
}

recede_model::for_each_file_size!(file_estimators, $);

macro_rules! each {
    ($e:expr, $t:ident => $body:expr) => {
        match $e {
            Estimator::Quadrotor($t) => $body,
            Estimator::DiffDrive($t) => $body,
            Estimator::CartPole($t) => $body,
            Estimator::Arm($t) => $body,
            Estimator::ContinuumArm($t) => $body,
            Estimator::File(file) => each_file!(file, $t => $body),
        }
    };
}

impl std::fmt::Debug for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::Quadrotor(_) => "quadrotor",
            Self::DiffDrive(_) => "diff_drive",
            Self::CartPole(_) => "cart_pole",
            Self::Arm(_) => "arm",
            Self::ContinuumArm(_) => "continuum_arm",
            Self::File(_) => "model_file",
        };
        f.debug_struct("Estimator").field("robot", &name).finish()
    }
}

/// Estimation, obstacles and targets for one robot.
#[derive(Debug)]
pub struct Perception {
    estimator: Estimator,
    sensors: Vec<SensorInfo>,
    stats: Vec<SensorStats>,
    estimate: Estimate,
    mapper: Option<ObstacleMapper>,
    finder: Option<(SensorId, TargetFinder)>,
    /// Depth registered into the infrared camera, from this depth camera.
    registration: Option<(SensorId, Registration)>,
    estimate_faults: u64,
}

fn defaults(robot: &RobotConfig) -> (Vec<f64>, Vec<f64>) {
    match robot {
        RobotConfig::Quadrotor(_) => (
            vec![
                0.05, 0.05, 0.05, 0.0, 0.01, 0.01, 0.01, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01,
            ],
            vec![0.0; 13],
        ),
        RobotConfig::DiffDrive(_) => (
            vec![0.05, 0.05, 0.03, 0.05, 0.05],
            vec![0.02, 0.02, 0.01, 0.5, 0.8],
        ),
        RobotConfig::CartPole(_) => (vec![0.05, 0.02, 0.1, 0.1], vec![0.01, 0.01, 0.5, 1.0]),
        RobotConfig::Arm(_) => (vec![0.02, 0.02, 0.1, 0.1], vec![0.01, 0.01, 1.0, 1.0]),
        // No filter for it yet (refused in `Perception::new`).
        RobotConfig::SoftCartPole(_) => (vec![0.0; 10], vec![0.0; 10]),
        // Curvatures known to 0.5 1/m, rates to 2 1/(m s); the rates take
        // the rod's unmodelled modes as process noise.
        RobotConfig::ContinuumArm(_) => (
            vec![0.5, 0.5, 0.5, 2.0, 2.0, 2.0],
            vec![0.05, 0.05, 0.05, 5.0, 5.0, 5.0],
        ),
        // A URDF arm's angles as the built-in arm's; its rates take 10
        // rad/s per sqrt(s): an unknown 0.3 kg payload accelerates arm6's
        // light wrist by tens of rad/s^2, and at 3 the filter fell behind
        // and gated every reading after 0.05 s (5 held).
        RobotConfig::ModelFile(f) if f.urdf.is_some() => {
            let n = robot.dimensions().0 / 2;
            let per = |a: f64, b: f64| [vec![a; n], vec![b; n]].concat();
            (per(0.02, 0.1), per(0.01, 10.0))
        }
        RobotConfig::ModelFile(_) => {
            let (nx, _) = robot.dimensions();
            (vec![0.05; nx], vec![0.1; nx])
        }
    }
}

impl Perception {
    /// Sets up the filter for `robot` at its initial state `x0` (the
    /// robot's state layout) and the obstacle and target pipelines for the
    /// cameras and scanners in `sensors` (ids as the readings will carry).
    pub fn new(
        ekf: &EkfConfig,
        config: &PerceptionConfig,
        robot: &RobotConfig,
        sensors: &[SensorInfo],
        x0: &[f64],
    ) -> Result<Self, PerceptionError> {
        ekf.validate()?;
        config.validate()?;
        robot.validate()?;
        let named: Vec<(&str, SensorKind)> =
            sensors.iter().map(|s| (s.name.as_str(), s.kind)).collect();
        Self::check_robot(robot, &named)?;
        let (nx, _) = robot.dimensions();
        if x0.len() != nx || x0.iter().any(|v| !v.is_finite()) {
            return Err(PerceptionError::InitialState {
                expected: nx,
                found: x0.to_vec(),
            });
        }
        ekf.check_state_len(nx)?;
        let (std0, q0) = defaults(robot);
        let std0 = ekf.initial_std.clone().unwrap_or(std0);
        let q_std = ekf.process_std_per_sqrt_s.clone().unwrap_or(q0);
        for s in sensors {
            if !(s.rate_hz.is_finite() && s.rate_hz > 0.0) {
                return Err(PerceptionError::Sensor {
                    name: s.name.clone(),
                    message: format!("rate_hz {} is not a rate", s.rate_hz),
                });
            }
            let camera = matches!(
                s.kind,
                SensorKind::DepthCamera | SensorKind::InfraredCamera | SensorKind::RgbCamera
            );
            if camera && s.intrinsics.is_none() {
                return Err(PerceptionError::Sensor {
                    name: s.name.clone(),
                    message: "a camera without intrinsics".into(),
                });
            }
        }
        let input_rate: f64 = sensors
            .iter()
            .filter(|s| {
                matches!(
                    s.kind,
                    SensorKind::Imu | SensorKind::PositionFix | SensorKind::Encoders
                )
            })
            .map(|s| s.rate_hz)
            .sum::<f64>()
            + 1000.0;
        let capacity = (ekf.history_secs * input_rate).ceil() as usize + 64;
        let model_noise = ModelNoise {
            fix_std: ekf.position_fix_std_m,
            yaw_std: ekf.position_fix_yaw_std_rad,
            gyro_std: ekf.imu_gyro_noise_std_radps,
            accel_std: ekf.imu_gate_std_mps2,
            speed_std: ekf.encoder_speed_std_m_s,
            ticks_per_rev: ekf.encoder_ticks_per_rev,
            gate_fix: ekf.gate_chi2_position_fix,
            gate_yaw: ekf.gate_chi2_yaw,
            gate_encoders: ekf.gate_chi2_encoders,
            gate_imu: ekf.gate_chi2_imu,
            max_step: ekf.max_predict_step_secs,
            gate_reset_after: ekf.gate_reset_after,
        };
        let h = ekf.history_secs;
        let estimator = match robot {
            RobotConfig::SoftCartPole(_) => unreachable_soft()?,
            RobotConfig::ContinuumArm(p) => Estimator::ContinuumArm(Box::new(Timeline::new(
                ModelFilter::new(
                    ContinuumArm::new(*p)?,
                    Kind::ContinuumArm(*p),
                    x0,
                    &std0,
                    &q_std,
                    model_noise,
                ),
                h,
                capacity,
            ))),
            RobotConfig::Quadrotor(p) => {
                Quadrotor::new(*p)?;
                Estimator::Quadrotor(Box::new(Timeline::new(
                    QuadFilter::new(x0, &std0, QuadNoise::new(ekf)),
                    h,
                    capacity,
                )))
            }
            RobotConfig::DiffDrive(p) => {
                let m = DiffDrive::new(*p)?;
                let kind = Kind::DiffDrive {
                    wheel_radius_m: p.wheel_radius_m,
                    track_width_m: p.track_width_m,
                };
                Estimator::DiffDrive(Timeline::new(
                    ModelFilter::new(m, kind, x0, &std0, &q_std, model_noise),
                    h,
                    capacity,
                ))
            }
            RobotConfig::CartPole(p) => Estimator::CartPole(Timeline::new(
                ModelFilter::new(
                    CartPole::new(*p)?,
                    Kind::CartPole,
                    x0,
                    &std0,
                    &q_std,
                    model_noise,
                ),
                h,
                capacity,
            )),
            RobotConfig::Arm(p) => Estimator::Arm(Timeline::new(
                ModelFilter::new(Arm::new(*p)?, Kind::Arm, x0, &std0, &q_std, model_noise),
                h,
                capacity,
            )),
            // Measured as its description maps (checked above).
            RobotConfig::ModelFile(f) => Estimator::File(FileEstimator::build(
                &f.model().map_err(recede_model::ModelError::from)?,
                x0,
                &std0,
                &q_std,
                model_noise,
                h,
                capacity,
            )?),
        };
        let cylinders_only = !matches!(robot, RobotConfig::Quadrotor(_));
        let max_points: usize = sensors
            .iter()
            .map(|s| match (s.kind, &s.intrinsics) {
                (SensorKind::DepthCamera, Some(k)) => {
                    ObstacleMapper::points_per_image(&config.obstacles, k)
                }
                (SensorKind::Lidar2d, _) => 4096,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let mapper = (config.obstacles.enabled && max_points > 0)
            .then(|| ObstacleMapper::new(&config.obstacles, cylinders_only, max_points));
        let ir = sensors
            .iter()
            .find(|s| s.kind == SensorKind::InfraredCamera);
        let depth = sensors.iter().find(|s| s.kind == SensorKind::DepthCamera);
        let finder = match ir {
            Some(s) if config.targets.enabled => s
                .intrinsics
                .map(|k| (s.id, TargetFinder::new(&config.targets, k))),
            _ => None,
        };
        let registration = match (ir, depth) {
            (Some(ir), Some(d)) if config.targets.enabled => match (ir.intrinsics, d.intrinsics) {
                (Some(ki), Some(kd)) => Some((
                    d.id,
                    Registration::new(ki, kd, ir.body_from_sensor.inverse() * d.body_from_sensor),
                )),
                _ => None,
            },
            _ => None,
        };
        let stats = sensors
            .iter()
            .map(|s| SensorStats {
                name: s.name.clone(),
                kind: Some(s.kind),
                ..SensorStats::default()
            })
            .collect();
        let mut perception = Self {
            estimator,
            sensors: sensors.to_vec(),
            stats,
            estimate: Estimate {
                time_secs: 0.0,
                state: x0.to_vec(),
                std: vec![0.0; nx],
            },
            mapper,
            finder,
            registration,
            estimate_faults: 0,
        };
        perception.estimate(0.0);
        Ok(perception)
    }

    /// Whether the EKF can run `robot` with these sensors (name and
    /// kind): the soft cart-pole has no filter; a file robot's position
    /// fix needs a position mapping, its encoders states to read. `recede
    /// check` asks it before anything is built; errors name the file, the
    /// key and what was expected.
    pub fn check_robot(
        robot: &RobotConfig,
        sensors: &[(&str, SensorKind)],
    ) -> Result<(), PerceptionError> {
        match robot {
            RobotConfig::SoftCartPole(_) => unreachable_soft(),
            RobotConfig::ModelFile(f) => {
                let model = f.model().map_err(recede_model::ModelError::from)?;
                for (name, kind) in sensors {
                    let (key, expected) = match kind {
                        SensorKind::PositionFix if !model.position_mapped => (
                            "mapping.position",
                            format!("a position mapping for the position fix `{name}` to measure"),
                        ),
                        SensorKind::Encoders if model.encoder_states.is_empty() => (
                            "encoders.states",
                            format!("the states the encoders `{name}` read"),
                        ),
                        _ => continue,
                    };
                    return Err(PerceptionError::RobotFile {
                        file: model.origin.clone(),
                        key: key.into(),
                        expected,
                        found: "none".into(),
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn sensor_index(&self, id: SensorId) -> Option<usize> {
        match self.sensors.get(id.0 as usize) {
            Some(s) if s.id == id => Some(id.0 as usize),
            _ => self.sensors.iter().position(|s| s.id == id),
        }
    }

    fn pose_at(&self, t_secs: f64) -> Isometry3<f64> {
        each!(&self.estimator, tl => tl.at(t_secs).world_from_body())
    }

    fn insert(&mut self, stamp_secs: f64, event: Event) -> Outcome {
        each!(&mut self.estimator, tl => tl.insert(stamp_secs, event))
    }

    /// Takes one reading (in any order; late readings are fused at their
    /// stamp). Readings of unknown sensors are ignored.
    pub fn on_reading(&mut self, reading: &Reading) -> Outcome {
        let Some(i) = self.sensor_index(reading.sensor) else {
            return Outcome::Ignored;
        };
        let stamp = reading.stamp.stamp_secs;
        let info = &self.sensors[i];
        let stats = &mut self.stats[i];
        stats.delivered += 1;
        if stamp.is_finite() {
            let index = (stamp * info.rate_hz).round() as i64;
            let gap = match stats.last_index {
                None => index,
                Some(last) => index - last - 1,
            };
            stats.dropped += gap.max(0) as u64;
            stats.last_index = Some(stats.last_index.map_or(index, |l| l.max(index)));
        } else {
            stats.non_finite += 1;
            return Outcome::NonFinite;
        }
        let body_from_sensor = info.body_from_sensor;
        // A world-fixed camera or lidar does not move with the estimate.
        let world_fixed = info.world_fixed;
        let world_from = |p: &Self| {
            if world_fixed {
                body_from_sensor
            } else {
                p.pose_at(stamp) * body_from_sensor
            }
        };
        let outcome = match &reading.measurement {
            Measurement::Imu {
                specific_force_mps2,
                gyro_radps,
            } => {
                if !specific_force_mps2
                    .iter()
                    .chain(gyro_radps.iter())
                    .all(|v| v.is_finite())
                {
                    Outcome::NonFinite
                } else {
                    let r = body_from_sensor.rotation;
                    self.insert(
                        stamp,
                        Event::Imu {
                            specific_force_body: r * specific_force_mps2,
                            gyro_body: r * gyro_radps,
                        },
                    )
                }
            }
            Measurement::PositionFix {
                position_m,
                yaw_rad,
            } => {
                if !(position_m.iter().all(|v| v.is_finite()) && yaw_rad.is_finite()) {
                    Outcome::NonFinite
                } else {
                    self.insert(
                        stamp,
                        Event::Fix {
                            position_m: *position_m,
                            yaw_rad: *yaw_rad,
                            lever_body_m: body_from_sensor.translation.vector,
                        },
                    )
                }
            }
            Measurement::Encoders { ticks } => {
                let mut t = [0i64; MAX_DIM];
                let n = ticks.len().min(MAX_DIM);
                t[..n].copy_from_slice(&ticks[..n]);
                self.insert(
                    stamp,
                    Event::Encoders {
                        ticks: t,
                        channels: n,
                    },
                )
            }
            Measurement::DepthImage(image) => {
                let world_from_camera = world_from(self);
                if let Some(k) = info.intrinsics {
                    if let Some(m) = &mut self.mapper {
                        m.depth_frame(stamp, image, &k, &world_from_camera);
                    }
                }
                if let Some((id, r)) = &mut self.registration {
                    if *id == reading.sensor {
                        r.update(stamp, image);
                    }
                }
                Outcome::Used
            }
            Measurement::LidarScan(scan) => {
                let world_from_sensor = world_from(self);
                if let Some(m) = &mut self.mapper {
                    m.scan_frame(stamp, scan, &world_from_sensor);
                }
                Outcome::Used
            }
            Measurement::InfraredImage(image) => {
                let world_from_camera = world_from(self);
                let registration = self.registration.as_mut().map(|(_, r)| r);
                match &mut self.finder {
                    Some((id, f)) if *id == reading.sensor => {
                        f.frame(stamp, image, registration, &world_from_camera);
                        Outcome::Used
                    }
                    _ => Outcome::Ignored,
                }
            }
            Measurement::RgbImage(_) => Outcome::Ignored,
        };
        let stats = &mut self.stats[i];
        match outcome {
            Outcome::Rejected { .. } => stats.rejected += 1,
            Outcome::Recovered => stats.gate_resets += 1,
            Outcome::NonFinite => stats.non_finite += 1,
            Outcome::TooLate => stats.too_late += 1,
            Outcome::Used | Outcome::Ignored => {}
        }
        outcome
    }

    /// The command applied from `t_secs` on (the model-driven filters
    /// predict with it; the quadrotor's filter uses its IMU instead).
    pub fn on_command(&mut self, t_secs: f64, command: &[f64]) -> Outcome {
        if !(t_secs.is_finite() && command.iter().all(|v| v.is_finite())) || command.len() > MAX_DIM
        {
            return Outcome::NonFinite;
        }
        let mut input = [0.0; MAX_DIM];
        input[..command.len()].copy_from_slice(command);
        self.insert(
            t_secs,
            Event::Command {
                input,
                len: command.len(),
            },
        )
    }

    /// The estimate at `t_secs`, predicted from the latest fused event at
    /// or before it. Never non-finite: should the filter produce a
    /// non-finite state, the previous estimate is kept and the fault
    /// counted ([`Self::estimate_faults`]).
    pub fn estimate(&mut self, t_secs: f64) -> &Estimate {
        let n = self.estimate.state.len();
        let mut state = [0.0; MAX_DIM];
        let mut std = [0.0; MAX_DIM];
        each!(&self.estimator, tl => {
            let f = tl.at(t_secs);
            f.write(&mut state[..n], &mut std[..n]);
        });
        if state[..n].iter().chain(&std[..n]).all(|v| v.is_finite()) {
            self.estimate.state.copy_from_slice(&state[..n]);
            self.estimate.std.copy_from_slice(&std[..n]);
            self.estimate.time_secs = t_secs;
        } else {
            self.estimate_faults += 1;
        }
        &self.estimate
    }

    /// The last estimate computed.
    pub fn last_estimate(&self) -> &Estimate {
        &self.estimate
    }

    /// The estimated position's covariance (quadrotor only; for tests of
    /// consistency).
    pub fn position_covariance(&self, t_secs: f64) -> Option<nalgebra::Matrix3<f64>> {
        match &self.estimator {
            Estimator::Quadrotor(tl) => Some(tl.at(t_secs).position_covariance()),
            _ => None,
        }
    }

    /// Confirmed obstacles.
    pub fn obstacles(&self) -> &[Obstacle] {
        self.mapper.as_ref().map_or(&[], |m| m.obstacles())
    }

    /// Confirmed hot targets.
    pub fn targets(&self) -> &[Target] {
        self.finder.as_ref().map_or(&[], |(_, f)| f.targets())
    }

    /// The hottest confirmed target.
    pub fn hottest_target(&self) -> Option<&Target> {
        self.finder.as_ref().and_then(|(_, f)| f.hottest())
    }

    /// The confirmed obstacles and targets into `out`, which holds them
    /// all: [`PerceptionConfig::validate`] keeps `max_tracks` and
    /// `max_targets` within its capacity. Allocates nothing.
    pub fn world_model(&self, out: &mut WorldModel) {
        out.set_obstacles(self.obstacles());
        out.set_targets(self.targets());
    }

    /// Per-sensor counters, in the order of the sensors given to [`Self::new`].
    pub fn sensor_stats(&self) -> &[SensorStats] {
        &self.stats
    }

    /// Estimates withheld because the filter produced non-finite values.
    pub fn estimate_faults(&self) -> u64 {
        self.estimate_faults
    }

    /// The estimated pose of the body at `t_secs`.
    pub fn world_from_body(&self, t_secs: f64) -> Isometry3<f64> {
        self.pose_at(t_secs)
    }

    /// The estimated position (the first two or three states for the
    /// ground robot and the quadrotor; zero otherwise).
    pub fn position(&self) -> Vector3<f64> {
        let s = &self.estimate.state;
        match &self.estimator {
            Estimator::Quadrotor(_) => Vector3::new(s[0], s[1], s[2]),
            Estimator::DiffDrive(_) => Vector3::new(s[0], s[1], 0.0),
            Estimator::CartPole(_)
            | Estimator::Arm(_)
            | Estimator::ContinuumArm(_)
            | Estimator::File(_) => Vector3::zeros(),
        }
    }
}

/// The soft cart-pole's link of segments has no measurement model yet.
fn unreachable_soft<T>() -> Result<T, PerceptionError> {
    Err(PerceptionError::Config {
        key: "estimator.kind".into(),
        expected: "\"truth\" for the soft cart-pole (it has no model filter yet)",
        found: "a filter".into(),
    })
}

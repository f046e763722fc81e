//! The rerun-backed recorder sink of `recede run`: turns the loop's
//! readings, true states and controller steps into `recede-viz` calls.
//! `recede-rt` knows only its `Sink` trait; this is where the viewer's
//! vocabulary (robot bodies, camera frames, plots) meets the scenario.

use std::path::PathBuf;

use anyhow::{Context, Result};
use nalgebra::{Point3, Quaternion, UnitQuaternion, Vector3};
use recede_control::ReferenceConfig;
use recede_model::robots::{Body, Pose, RobotConfig};
use recede_msg::{Measurement, Reading, SensorInfo, SensorKind};
use recede_rt::{Level, Sink, StepLog};
use recede_sim::config::{ShapeConfig, WorldConfig};
use recede_viz::{
    CameraSpec, Obstacle, ObstacleSource, Recorder, RecorderConfig, RecorderHandle, RobotKind,
    RobotPose, Series, Stamp, When,
};

use arm::ArmView;
use layout::{layout, Bounds, Perceived, Tracking};

mod arm;
mod layout;

/// Where `recede run` sends its recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recording {
    /// No recording.
    Off,
    /// An `.rrd` file.
    File(PathBuf),
    /// A viewer spawned for the run.
    Spawn,
    /// A running viewer at `host:port` (or a full rerun URL).
    Connect(String),
}

impl Recording {
    /// Opens the recorder now, so that a sink that cannot be written is an
    /// error before the run starts.
    pub fn open(&self, name: &str) -> Result<Option<Recorder>> {
        let mut config = match self {
            Recording::Off => return Ok(None),
            Recording::File(path) => RecorderConfig::file(path),
            Recording::Spawn => RecorderConfig::spawn(),
            Recording::Connect(addr) => RecorderConfig::connect(addr.clone()),
        };
        config.recording_name = Some(name.to_owned());
        let recorder = Recorder::new(config)
            .with_context(|| format!("cannot open the recording ({self:?})"))?;
        Ok(Some(recorder))
    }
}

/// The point of a state the viewer draws paths of (the robot descriptor's:
/// a body's position, a pole's or an arm's tip); the origin for a state of
/// the wrong length.
pub fn state_point(robot: &RobotConfig, x: &[f64]) -> Point3<f64> {
    let [px, py, pz] = robot.point_and_pose(x).map_or([0.0; 3], |(p, _)| p);
    Point3::new(px, py, pz)
}

fn pose(robot: &RobotConfig, x: &[f64]) -> Option<RobotPose> {
    Some(match robot.point_and_pose(x)?.1 {
        Pose::Rigid {
            position_m: [px, py, pz],
            attitude: [w, i, j, k],
        } => RobotPose::rigid(
            Point3::new(px, py, pz),
            UnitQuaternion::from_quaternion(Quaternion::new(w, i, j, k)),
        ),
        Pose::CartPole {
            cart_position_m,
            pole_angle_rad,
        } => RobotPose::CartPole {
            cart_position_m,
            pole_angle_rad,
        },
        Pose::TwoLinkArm { q1_rad, q2_rad } => RobotPose::TwoLinkArm { q1_rad, q2_rad },
    })
}

/// The viewer's body for the descriptor's (the same shapes, in the
/// viewer's own vocabulary: viz does not depend on the model).
fn robot_kind(body: Body) -> RobotKind {
    match body {
        Body::Quadrotor {
            arm_length_m,
            rotor_radius_m,
        } => RobotKind::Quadrotor {
            arm_length_m,
            rotor_radius_m,
        },
        Body::CartPole {
            pole_length_m,
            cart_width_m,
            cart_height_m,
        } => RobotKind::CartPole {
            pole_length_m,
            cart_width_m,
            cart_height_m,
        },
        Body::GroundBox {
            length_m,
            width_m,
            height_m,
        } => RobotKind::DiffDrive {
            length_m,
            width_m,
            height_m,
        },
        Body::TwoLinkArm {
            link1_length_m,
            link2_length_m,
        } => RobotKind::TwoLinkArm {
            link1_length_m,
            link2_length_m,
        },
    }
}

/// The world's objects as the viewer draws them (cylinders as their
/// bounding boxes; moving objects where they start).
fn world_obstacles(world: &WorldConfig) -> Vec<Obstacle> {
    world
        .objects
        .iter()
        .map(|o| match o.shape {
            ShapeConfig::Sphere { center_m, radius_m } => Obstacle::Sphere {
                center: Point3::from(center_m),
                radius_m,
            },
            ShapeConfig::Box {
                center_m,
                size_m,
                yaw_rad,
            } => Obstacle::Box {
                center: Point3::from(center_m),
                half_sizes_m: Vector3::from(size_m) * 0.5,
                rotation: UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw_rad),
            },
            ShapeConfig::Cylinder {
                center_m,
                radius_m,
                height_m,
            } => Obstacle::Box {
                center: Point3::from(center_m),
                half_sizes_m: Vector3::new(radius_m, radius_m, 0.5 * height_m),
                rotation: UnitQuaternion::identity(),
            },
        })
        .collect()
}

/// What the sink needs to know about the run.
#[derive(Debug, Clone)]
pub struct SinkSetup<'a> {
    pub robot: &'a RobotConfig,
    pub reference: &'a ReferenceConfig,
    pub world: &'a WorldConfig,
    pub sensors: &'a [SensorInfo],
    pub duration_secs: f64,
    /// Log images and scans.
    pub sensor_data: bool,
    /// The controller's input bounds (plotted with the command), if any.
    pub input_bounds: (Option<&'a [f64]>, Option<&'a [f64]>),
    /// Whether the estimator perceives (not the truth): its estimate and
    /// what it sees are then drawn.
    pub perception: bool,
}

/// `recede_rt::Sink` over a rerun recorder handle.
#[derive(Debug)]
pub struct VizSink {
    handle: RecorderHandle,
    robot: RobotConfig,
    reference: ReferenceConfig,
    sensors: Vec<SensorInfo>,
    sensor_data: bool,
    points: Vec<Point3<f64>>,
    tracking: Tracking,
    bounds: Bounds,
    perception: Option<Perceived>,
    /// Time of the last image logged, per sensor.
    last_image_secs: Vec<f64>,
    /// A continuum arm's rod, sections and tip (drawn instead of a body).
    arm: Option<ArmView>,
}

/// Images go to the recording at most this often per camera (10 Hz): the
/// viewer needs no more, and encoding every 30 Hz frame is most of the
/// recorder's work (perception still gets every frame).
const IMAGE_PERIOD_SECS: f64 = 0.1;

impl VizSink {
    /// Logs the static parts (body, cameras, reference, obstacles, series
    /// names), has them written out, and returns the sink for the loop.
    pub fn new(handle: RecorderHandle, setup: &SinkSetup<'_>) -> Self {
        let robot = setup.robot;
        // Parameters that do not validate never get this far (`check`);
        // without a robot there is no body and no names to declare.
        let (states, inputs, body) = match robot.names_and_body() {
            Ok((states, inputs, body)) => (states, inputs, Some(body)),
            Err(_) => (Vec::new(), Vec::new(), None),
        };
        let states: Vec<&str> = states.iter().map(String::as_str).collect();
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let (states, inputs) = (&states[..], &inputs[..]);
        let arm = ArmView::new(robot, setup.sensors);
        if let (Some(body), None) = (body, &arm) {
            handle.declare_robot(robot_kind(body));
        }
        if arm.is_some() {
            handle.declare_series(Series::Tip, &arm::TIP_NAMES);
            handle.declare_series(Series::TipError, &["tip error (mm)"]);
        }
        handle.declare_series(Series::State, states);
        handle.declare_series(Series::EstimatorStd, states);
        handle.declare_series(Series::Command, inputs);
        handle.declare_series(Series::StepTimeUs, &["step_us"]);
        handle.declare_series(Series::QpIterations, &["qp_iterations"]);
        for s in setup.sensors {
            if let Some(k) = &s.intrinsics {
                handle.declare_camera(&CameraSpec {
                    name: s.name.clone(),
                    resolution_px: [k.width_px, k.height_px],
                    focal_length_px: [k.fx_px, k.fy_px],
                    principal_point_px: [k.cx_px, k.cy_px],
                    body_from_camera: s.body_from_sensor,
                });
            }
        }
        let (nx, nu) = robot.dimensions();
        let (mut x, mut u) = (vec![0.0; nx], vec![0.0; nu]);
        match setup.reference {
            ReferenceConfig::Waypoints { states, .. } => {
                let targets: Vec<Point3<f64>> =
                    states.iter().map(|s| state_point(robot, s)).collect();
                handle.log_targets(When::Static, &targets);
            }
            reference => {
                let n = 400;
                let path: Vec<Point3<f64>> = (0..=n)
                    .map(|i| {
                        reference.sample(setup.duration_secs * i as f64 / n as f64, &mut x, &mut u);
                        state_point(robot, &x)
                    })
                    .collect();
                handle.log_reference(When::Static, &path);
            }
        }
        let obstacles = world_obstacles(setup.world);
        if !obstacles.is_empty() {
            let names: Vec<&str> = setup
                .world
                .objects
                .iter()
                .map(|o| o.name.as_str())
                .collect();
            handle.log_labelled_obstacles(When::Static, ObstacleSource::True, &obstacles, &names);
        }
        let tracking = Tracking::new(robot, states);
        handle.declare_series(Series::Tracking, &tracking.names());
        let bounds = Bounds::new(&handle, setup.input_bounds);
        let arm_frame = arm
            .as_ref()
            .map(|a| a.frame_points(setup.reference, setup.duration_secs));
        let mut blueprint = layout(setup, &obstacles, arm_frame.as_deref());
        blueprint.arm_seen = arm.as_ref().is_some_and(ArmView::is_seen);
        handle.send_blueprint(&blueprint);
        // The static scene reaches the file before the run starts.
        handle.flush();
        Self {
            handle,
            robot: robot.clone(),
            reference: setup.reference.clone(),
            sensors: setup.sensors.to_vec(),
            sensor_data: setup.sensor_data,
            points: Vec::new(),
            tracking,
            bounds,
            perception: setup.perception.then(Perceived::new),
            last_image_secs: vec![f64::NEG_INFINITY; setup.sensors.len()],
            arm,
        }
    }
}

impl Sink for VizSink {
    fn reading(&mut self, step: u64, reading: &Reading) {
        if !self.sensor_data {
            return;
        }
        let Some(info) = self.sensors.get(reading.sensor.0 as usize) else {
            return;
        };
        let stamp = Stamp::new(step, reading.stamp.stamp_secs);
        let name = &info.name;
        let image = matches!(
            reading.measurement,
            Measurement::RgbImage(_) | Measurement::DepthImage(_) | Measurement::InfraredImage(_)
        );
        if image {
            let last = &mut self.last_image_secs[reading.sensor.0 as usize];
            // A millisecond of slack: 30 Hz frames land on 0.1 s give or take.
            if stamp.sim_time_secs - *last < IMAGE_PERIOD_SECS - 1e-3 {
                return;
            }
            *last = stamp.sim_time_secs;
        }
        match &reading.measurement {
            Measurement::RgbImage(img) => {
                let size = [img.width_px, img.height_px];
                self.handle
                    .log_rgb(stamp, name, size, img.data.as_flattened());
            }
            Measurement::DepthImage(img) => {
                self.handle
                    .log_depth(stamp, name, [img.width_px, img.height_px], &img.data);
                if let Some(arm) = &mut self.arm {
                    arm.depth(&self.handle, stamp, reading.sensor, img);
                }
            }
            Measurement::InfraredImage(img) => {
                self.handle
                    .log_infrared(stamp, name, [img.width_px, img.height_px], &img.data);
            }
            Measurement::LidarScan(scan) if info.kind == SensorKind::Lidar2d => {
                self.points.clear();
                for (i, r) in scan.ranges_m.iter().enumerate() {
                    if r.is_finite() {
                        let a = scan.angle_min_rad + i as f64 * scan.angle_increment_rad;
                        let p = Point3::new(f64::from(*r) * a.cos(), f64::from(*r) * a.sin(), 0.0);
                        self.points.push(info.body_from_sensor * p);
                    }
                }
                self.handle.log_lidar(stamp, &self.points);
            }
            _ => {}
        }
    }

    fn truth(&mut self, step: u64, t_secs: f64, state: &[f64]) {
        let stamp = Stamp::new(step, t_secs);
        let pairs = self.tracking.pairs(&self.reference, t_secs, state);
        self.handle.log_series(stamp, Series::Tracking, pairs);
        if let Some(arm) = &mut self.arm {
            arm.truth(&self.handle, stamp, &self.reference, state);
        } else if let Some(pose) = pose(&self.robot, state) {
            self.handle.log_pose(stamp, pose);
        }
        self.handle.log_series(stamp, Series::State, state);
    }

    fn shape(&mut self, step: u64, t_secs: f64, points: &[[f64; 3]]) {
        if let Some(arm) = &mut self.arm {
            let stamp = Stamp::new(step, t_secs);
            arm.shape(&self.handle, stamp, &self.reference, points);
        }
    }

    fn step(&mut self, log: &StepLog) {
        let stamp = Stamp::new(log.step, log.t_secs);
        if let Some(arm) = &mut self.arm {
            arm.estimate(&self.handle, stamp, &log.estimate);
        }
        self.handle.log_series(stamp, Series::Command, &log.command);
        self.bounds.at(&self.handle, stamp);
        self.handle
            .log_series(stamp, Series::StepTimeUs, &[log.compute_secs * 1e6]);
        self.handle.log_series(
            stamp,
            Series::QpIterations,
            &[f64::from(log.status.iterations)],
        );
        self.handle
            .log_series(stamp, Series::EstimatorStd, &log.estimate_std);
        let nx = log.estimate.len();
        if nx > 0 && !log.predicted_states.is_empty() {
            self.points.clear();
            self.points.extend(
                log.predicted_states
                    .chunks_exact(nx)
                    .map(|x| state_point(&self.robot, x)),
            );
            self.handle.log_prediction(stamp, &self.points);
        }
        if let Some(perceived) = &mut self.perception {
            if nx > 0 {
                let estimate = state_point(&self.robot, &log.estimate);
                self.handle.log_estimate(stamp, estimate);
            }
            perceived.log(&self.handle, stamp, &log.world);
        }
    }

    fn event(&mut self, step: u64, t_secs: f64, level: Level, text: &str) {
        let level = match level {
            Level::Info => recede_viz::Level::Info,
            Level::Warn => recede_viz::Level::Warn,
            Level::Error => recede_viz::Level::Error,
        };
        self.handle.log_event(Stamp::new(step, t_secs), level, text);
    }

    fn dropped(&self) -> u64 {
        self.handle.dropped()
    }
}

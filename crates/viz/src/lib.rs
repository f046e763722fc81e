//! recede-viz: the rerun sink.
//!
//! Everything the loop does can be watched in rerun: the robot's pose and a
//! simple body per robot, the reference path, the MPC's predicted trajectory,
//! obstacles (true and perceived), targets, camera images on their frames,
//! lidar points, time series and a text log of events, all on a `sim_time`
//! timeline (plus a `step` sequence).
//!
//! The API takes plain data (slices, arrays, nalgebra types); it knows nothing
//! of the simulator or the controller. A [`Recorder`] opens the recording (an
//! `.rrd` file by default, or a spawned / running viewer) before the run
//! starts, and owns a thread that holds the rerun `RecordingStream`. The loop
//! talks to it through a bounded channel with `try_send`: no call blocks, and
//! when the recorder falls behind the data is dropped and counted
//! ([`RecorderHandle::dropped`]).
//!
//! ```no_run
//! use nalgebra::Point3;
//! use recede_viz::{Level, Recorder, RobotKind, RobotPose, Series, Stamp, When};
//!
//! let recorder = Recorder::to_file("run.rrd")?;
//! recorder.declare_robot(RobotKind::DiffDrive { length_m: 0.5, width_m: 0.4, height_m: 0.2 });
//! recorder.declare_series(Series::Command, &["a", "alpha"]);
//! recorder.log_reference(When::Static, &[Point3::origin(), Point3::new(5.0, 0.0, 0.0)]);
//! for step in 0..100u64 {
//!     let t = Stamp::new(step, step as f64 * 0.02);
//!     recorder.log_pose(t, RobotPose::planar(0.05 * step as f64, 0.0, 0.0));
//!     recorder.log_series(t, Series::Command, &[0.1, 0.0]);
//! }
//! recorder.log_event(Stamp::new(100, 2.0), Level::Info, "goal reached");
//! let stats = recorder.finish()?;
//! assert_eq!(stats.dropped, 0);
//! # Ok::<(), recede_viz::VizError>(())
//! ```
//!
//! A recording carries its layout: [`RecorderHandle::send_blueprint`] sends
//! a [`Layout`] (one function for every robot) as rerun's default
//! blueprint. Camera images are encoded on the recorder thread ([`encode`]).
//!
//! Entity paths and timelines are listed in [`paths`].

mod batch;
mod blueprint;
mod body;
pub mod encode;
mod error;
pub mod paths;
mod recorder;
mod types;
mod writer;

pub use blueprint::Layout;
pub use body::{
    base_from_link1, cart_from_pole, elbow_from_link2, link1_from_elbow, rotor_positions,
};
pub use error::VizError;
pub use recorder::{Recorder, RecorderConfig, RecorderHandle, RecorderStats, Sink};
pub use types::{
    CameraSpec, Curve, Level, Obstacle, ObstacleSource, RobotKind, RobotPose, Series, Stamp, When,
};

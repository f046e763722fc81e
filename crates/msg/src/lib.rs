//! Measurement, image and percept types shared by whatever produces sensor
//! data (the simulator, a real driver) and whatever consumes it (perception,
//! the loop, the viewer), and what perception hands the controller
//! (obstacles, targets, the fixed-capacity [`WorldModel`]). Plain data, no
//! simulator: firmware can depend on this crate without pulling in
//! `recede-sim`.
//!
//! Conventions: SI units, z up in the world and body frames, times in seconds
//! on the run's clock. Frame names read right to left: `body_from_sensor`
//! maps a point in sensor coordinates to body coordinates.
//!
//! Sensor frames:
//! - cameras use the optical frame: x right, y down, z forward (along the
//!   optical axis); pixel `(u, v)` has column `u` and row `v`, origin top left;
//! - IMU, position fix and lidar use x forward, y left, z up.

mod camera;
mod image;
mod measurement;
mod percept;
mod sensor;
mod time;

pub use camera::CameraIntrinsics;
pub use image::{DepthImage, Image, InfraredImage, RgbImage};
pub use measurement::{LidarScan, Measurement, Reading};
pub use percept::{Obstacle, ObstacleShape, Target, WorldModel, MAX_OBSTACLES, MAX_TARGETS};
pub use sensor::{SensorId, SensorInfo, SensorKind};
pub use time::Stamp;

/// The longest state or input vector of any robot: what fixed-capacity
/// messages and buffers (commands in flight, estimates, recorded rows) hold
/// without allocating. The robot list is checked against it where it is
/// expanded (`recede-control`).
pub const MAX_DIM: usize = 16;

//! Scenario files run end to end through the runner, in one test binary
//! (each binary links rerun): the loop's goals, repeatability and
//! recording (`run_loop`), the perception scenarios (`perception`), the
//! soft cart-pole (`soft_cartpole`), the continuum arm around a ball
//! (`soft_arm_obstacle`) and seen by a world-fixed depth camera
//! (`soft_arm_seen`), the URDF arm's Cartesian circle
//! (`arm6`), the EKF of robots brought by file (`file_ekf`), plant-step
//! transition logs (`plant_step_log`). The fuzzing of every scenario is its
//! own binary (`fuzz_scenarios.rs`: its panic hook sees every thread).

mod arm6;
mod file_ekf;
mod perception;
mod plant_step_log;
mod run_loop;
mod soft_arm_obstacle;
mod soft_arm_seen;
mod soft_arm_sensed;
mod soft_cartpole;

use std::path::{Path, PathBuf};

/// The workspace's root, where configs/ and tests/data/ are.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

//! The program's side of the runtime's seams: the simulator as a
//! [`recede_rt::World`], the perception pipeline as a
//! [`recede_rt::Estimator`], the scenario's controller (with its guidance)
//! as a [`recede_rt::Policy`]. Each is a thin adapter; the algorithms stay
//! in their crates, which know nothing of the loop (`recede-rt` depends on
//! `recede-msg` only, and `recede-sim` may not depend on `recede-rt`).

mod estimator;
mod policy;
mod world;

pub use estimator::PerceptionEstimator;
pub use policy::{status, ControlPolicy};
pub use world::{SimWorld, DEFAULT_RENDER_WORKERS};

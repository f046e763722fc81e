//! The loop's tasks. The world runs on the caller's thread; the estimator,
//! the controller and the recorder each on a scoped thread.

pub(crate) mod controller;
pub(crate) mod estimator;
mod lockstep;
mod realtime;
pub(crate) mod recorder;
pub(crate) mod world;

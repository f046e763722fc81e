//! The built-in robots. Each has typed parameters (serde, unknown keys
//! rejected, defaults = the reference problems') and a `validate` pass.

pub mod cartpole;

pub use cartpole::{CartPole, CartPoleParams};

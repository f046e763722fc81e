//! Learned residual dynamics for recede.
//!
//! The MPC's model is physics plus a correction, `x' = f(x, u) + g(x, u)`
//! ([`recede_model::WithResidual`]). This crate provides `g`:
//!
//! - [`MlpResidual`]: a small multilayer perceptron behind the
//!   [`recede_model::Residual`] seam. Inference runs on `f64` (features,
//!   network, output map) with each output row's gradient by reverse mode,
//!   lifted onto the caller's dual numbers by the chain rule, so
//!   `Rk4::linearize` differentiates the sum exactly; held over an RK4 step
//!   it is one evaluation per linearisation. It allocates nothing:
//!   weights are `f64` in `Vec`s set up at load time, buffers live on the
//!   stack. Features
//!   ([`Feature`]) and where the outputs go ([`Output`]) are config; a
//!   [`SupportGuard`] clips or fades the residual outside the training data's
//!   support and counts how often it did ([`GuardStats`]).
//! - `train` (cargo feature `training`, off in firmware builds): Adam,
//!   minibatches, a validation split, early stopping; seeded and
//!   repeatable bit for bit.
//! - Model files: safetensors with a metadata header
//!   ([`MlpResidual::save`], [`MlpResidual::load`]); the format is in the
//!   crate's README so that other tools can write it.
//! - [`Rls`]: online adaptation of the last layer by bounded recursive least
//!   squares.

mod error;
mod file;
mod inference;
mod jacobians;
mod mlp;
mod network;
mod rls;
mod spec;
mod tanh;
#[cfg(feature = "training")]
mod train;

pub use error::LearnError;
pub use file::{FORMAT_NAME, FORMAT_VERSION};
pub use mlp::{GuardStats, MlpResidual, Normalization, Support};
pub use network::{Layer, Network};
pub use rls::{AdaptedParameters, Rls, RlsConfig, RlsOutcome, RlsStats};
pub use spec::{
    body_from_world, rotation, Activation, Feature, Output, ResidualSpec, SupportGuard,
    FEATURE_KINDS, OUTPUT_KINDS,
};
#[cfg(feature = "training")]
pub use train::{train, Dataset, EpochReport, Sample, TrainOptions, TrainReport};

/// Widest layer (including the input and output) the fixed-size inference
/// buffers hold; checked when a model is built or loaded.
pub const MAX_WIDTH: usize = 64;

/// Most hidden layers a model may have (the inference's backward pass keeps
/// one slope buffer per hidden layer on the stack); checked like
/// [`MAX_WIDTH`].
pub const MAX_HIDDEN_LAYERS: usize = 8;

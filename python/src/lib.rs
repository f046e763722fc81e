//! recede's Python extension, `recede._recede`: the controller on numpy
//! arrays, scenario runs and checks, and tuning files, for the pure-Python
//! package in `python/recede`.
//!
//! Built only with the `python` feature (maturin turns it on): without it
//! this library is empty, so the workspace builds and lints without Python.

#[cfg(feature = "python")]
mod controller;
#[cfg(feature = "python")]
mod convert;
#[cfg(feature = "python")]
mod module;
#[cfg(feature = "python")]
mod tune;

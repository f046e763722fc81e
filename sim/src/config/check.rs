//! Small validators shared by the config sections; each names the key.

use crate::ConfigError;

pub(crate) fn fail(key: &str, expected: &str, got: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        expected: expected.to_owned(),
        got: got.to_string(),
    }
}

/// A number as an error shows it: Rust's `Debug` form, which switches to
/// exponent notation for very large or small magnitudes (`1e308`, not 309
/// digits) and keeps `0.5` as it is.
pub(crate) fn number(v: f64) -> String {
    format!("{v:?}")
}

pub(crate) fn positive(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(fail(key, "a finite value > 0", number(v)))
    }
}

pub(crate) fn non_negative(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(fail(key, "a finite value >= 0", number(v)))
    }
}

pub(crate) fn finite(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(fail(key, "a finite value", number(v)))
    }
}

pub(crate) fn finite_all(key: &str, v: &[f64]) -> Result<(), ConfigError> {
    for (i, x) in v.iter().enumerate() {
        finite(&format!("{key}[{i}]"), *x)?;
    }
    Ok(())
}

pub(crate) fn non_negative_all(key: &str, v: &[f64]) -> Result<(), ConfigError> {
    for (i, x) in v.iter().enumerate() {
        non_negative(&format!("{key}[{i}]"), *x)?;
    }
    Ok(())
}

pub(crate) fn probability(key: &str, v: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(fail(key, "a probability in [0, 1]", number(v)))
    }
}

pub(crate) fn name(key: &str, v: &str) -> Result<(), ConfigError> {
    let ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(fail(
            key,
            "a non-empty name of letters, digits, '_' or '-'",
            format!("{v:?}"),
        ))
    }
}

//! Between Python and recede: errors, caught panics, TOML values.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use toml_edit::{Array, InlineTable, Value};

pyo3::create_exception!(
    recede,
    RecedeError,
    PyException,
    "A scenario, tuning file, argument or run that recede rejects; the message names the file and the key."
);

/// An error as a Python exception, with its whole chain of context.
pub fn error(e: impl Into<anyhow::Error>) -> PyErr {
    RecedeError::new_err(format!("{:#}", e.into()))
}

/// Runs `f`, turning a panic into a [`RecedeError`]: the last guard at the
/// boundary (pyo3 would raise its own `PanicException`, which `except
/// Exception` does not catch).
pub fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(RecedeError::new_err(format!(
                "internal error (a panic inside recede, caught at the Python boundary): {what}"
            )))
        }
    }
}

/// A Python value as a TOML value: bool, int, float, str, list/tuple
/// (arrays), dict (inline tables), and numpy scalars/arrays via `tolist()`.
pub fn toml_value(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(Value::from(v.extract::<bool>()?));
    }
    if v.is_instance_of::<PyInt>() {
        let i: i64 = v.extract().map_err(|_| {
            error(anyhow::anyhow!(
                "overrides[{key:?}]: an integer beyond 64 bits"
            ))
        })?;
        return Ok(Value::from(i));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(Value::from(v.extract::<f64>()?));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::from(s.to_cow()?.as_ref()));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut a = Array::new();
        for item in v.try_iter()? {
            a.push(toml_value(key, &item?)?);
        }
        return Ok(Value::Array(a));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = InlineTable::new();
        for (k, item) in d.iter() {
            let k: String = k.extract()?;
            t.insert(&k, toml_value(key, &item)?);
        }
        return Ok(Value::InlineTable(t));
    }
    if v.hasattr("tolist")? {
        // numpy scalars and arrays.
        return toml_value(key, &v.call_method0("tolist")?);
    }
    Err(error(anyhow::anyhow!(
        "overrides[{key:?}]: expected a bool, number, str, list or dict, found {}",
        v.get_type().name()?
    )))
}

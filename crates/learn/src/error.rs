use thiserror::Error;

/// Everything that can go wrong in this crate: building or loading a model,
/// training, setting up adaptation. Inference and adaptation updates never
/// return errors (they count what they skipped instead).
#[derive(Debug, Error)]
pub enum LearnError {
    /// Reading or writing a model file failed.
    #[error("model file `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a readable safetensors container.
    #[error("not a safetensors file: {0}")]
    NotSafetensors(String),
    /// A required header key is absent.
    #[error("model file header has no `{key}` entry")]
    MissingMetadata { key: &'static str },
    /// The header's `format` names another kind of file.
    #[error("model file format is `{found}`, expected `{expected}`")]
    WrongFormat {
        found: String,
        expected: &'static str,
    },
    /// The header's `format_version` is not one this build reads.
    #[error("model file format version `{found}` is not supported (this build reads version {supported})")]
    UnsupportedVersion { found: String, supported: u32 },
    /// A header entry is not valid JSON of the expected shape.
    #[error("model file header entry `{key}`: {message}")]
    BadMetadata { key: &'static str, message: String },
    /// A feature kind this build does not know.
    #[error("unknown feature kind `{kind}` (known: {known})")]
    UnknownFeature { kind: String, known: &'static str },
    /// An output kind this build does not know.
    #[error("unknown output kind `{kind}` (known: {known})")]
    UnknownOutput { kind: String, known: &'static str },
    /// A tensor named by the architecture is absent.
    #[error("model file has no tensor `{name}`")]
    MissingTensor { name: String },
    /// A tensor has a dtype other than F64 or F32.
    #[error("tensor `{name}` has dtype {dtype}, expected F64 or F32")]
    WrongDtype { name: String, dtype: String },
    /// Two sizes that must agree do not.
    #[error("dimension mismatch in {what}: expected {expected}, found {found}")]
    DimensionMismatch {
        what: String,
        expected: usize,
        found: usize,
    },
    /// A layer wider than the fixed inference buffers.
    #[error("{what} has width {width}, more than the maximum {max}")]
    TooWide {
        what: String,
        width: usize,
        max: usize,
    },
    /// A weight, normalisation constant or bound is NaN or infinite.
    #[error("{what} contains a non-finite value at index {index}")]
    NonFinite { what: String, index: usize },
    /// A value that is finite but not allowed (std <= 0, min > max, a state
    /// index out of range, ...).
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
    /// Training cannot start: too little data, bad options, NaN in the data.
    #[error("training: {0}")]
    Training(String),
}

impl LearnError {
    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn mismatch(what: impl Into<String>, expected: usize, found: usize) -> Self {
        Self::DimensionMismatch {
            what: what.into(),
            expected,
            found,
        }
    }
}

/// Fails with [`LearnError::NonFinite`] at the first non-finite entry.
pub(crate) fn check_finite(what: &str, values: &[f64]) -> Result<(), LearnError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(LearnError::NonFinite {
            what: what.to_string(),
            index,
        }),
        None => Ok(()),
    }
}

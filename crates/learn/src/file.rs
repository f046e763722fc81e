//! The model file: safetensors with a metadata header. The format is
//! specified in `crates/learn/README.md`; keep the two in step.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::LearnError;
use crate::mlp::{MlpResidual, Normalization, Support};
use crate::network::{Layer, Network};
use crate::spec::{
    Activation, Feature, Output, ResidualSpec, SupportGuard, FEATURE_KINDS, FEATURE_KIND_LIST,
    OUTPUT_KINDS, OUTPUT_KIND_LIST,
};

/// Value of the header's `format` entry.
pub const FORMAT_NAME: &str = "recede.residual_mlp";
/// Value of the header's `format_version` entry that this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The header's `architecture` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Architecture {
    /// State and input dimensions of the robot the model is for.
    nx: usize,
    nu: usize,
    /// Widths from input to output, e.g. `[9, 32, 32, 3]`.
    layer_sizes: Vec<usize>,
    activation: Activation,
    /// A linear skip term (tensor `skip.weight`); absent in files without
    /// one, so those keep their bytes and older files their meaning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    linear_skip: bool,
}

impl<const NX: usize, const NU: usize> MlpResidual<NX, NU> {
    /// The model as a safetensors file (bytes). Deterministic: the same model
    /// always gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let spec = self.spec();
        let net = self.network();
        let arch = Architecture {
            nx: NX,
            nu: NU,
            layer_sizes: spec.layer_sizes(NU),
            activation: spec.activation,
            linear_skip: net.skip.is_some(),
        };
        let mut meta = BTreeMap::new();
        meta.insert("format", FORMAT_NAME.to_string());
        meta.insert("format_version", FORMAT_VERSION.to_string());
        meta.insert("architecture", json(&arch));
        meta.insert("features", json(&spec.features));
        meta.insert("outputs", json(&spec.outputs));
        meta.insert("guard", json(&spec.guard));
        meta.insert("normalization", json(self.normalization()));
        meta.insert("support", json(self.support()));

        // Tensors in name order, packed back to back.
        let mut tensors: BTreeMap<String, (Vec<usize>, &[f64])> = BTreeMap::new();
        for (l, layer) in net.layers.iter().enumerate() {
            tensors.insert(
                format!("layers.{l}.weight"),
                (vec![layer.outputs, layer.inputs], &layer.weight),
            );
            tensors.insert(
                format!("layers.{l}.bias"),
                (vec![layer.outputs], &layer.bias),
            );
        }
        if let Some(skip) = &net.skip {
            tensors.insert(
                "skip.weight".to_string(),
                (vec![net.n_outputs(), net.n_inputs()], skip),
            );
        }
        let mut header = serde_json::Map::new();
        header.insert(
            "__metadata__".to_string(),
            serde_json::to_value(&meta).unwrap_or(Value::Null),
        );
        let mut data = Vec::new();
        for (name, (shape, values)) in &tensors {
            let start = data.len();
            for v in values.iter() {
                data.extend_from_slice(&v.to_le_bytes());
            }
            header.insert(
                name.clone(),
                serde_json::json!({
                    "dtype": "F64",
                    "shape": shape,
                    "data_offsets": [start, data.len()],
                }),
            );
        }
        // serde_json's Map keeps keys sorted (or in insertion order, which
        // is sorted here too), so the header text is deterministic.
        let mut header = Value::Object(header).to_string().into_bytes();
        header.resize(header.len().next_multiple_of(8), b' ');
        let mut bytes = Vec::with_capacity(8 + header.len() + data.len());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&data);
        bytes
    }

    /// Writes [`Self::to_bytes`] to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), LearnError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| LearnError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads a model file; every problem is a [`LearnError`], never a panic.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LearnError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LearnError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses and checks a model file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LearnError> {
        let not_st = |e: safetensors::SafeTensorError| LearnError::NotSafetensors(e.to_string());
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(not_st)?;
        let tensors = SafeTensors::deserialize(bytes).map_err(not_st)?;
        let empty = Default::default();
        let meta = metadata.metadata().as_ref().unwrap_or(&empty);
        let get = |key: &'static str| meta.get(key).ok_or(LearnError::MissingMetadata { key });

        let format = get("format")?;
        if format != FORMAT_NAME {
            return Err(LearnError::WrongFormat {
                found: format.clone(),
                expected: FORMAT_NAME,
            });
        }
        let version = get("format_version")?;
        if version.trim().parse::<u32>().ok() != Some(FORMAT_VERSION) {
            return Err(LearnError::UnsupportedVersion {
                found: version.clone(),
                supported: FORMAT_VERSION,
            });
        }
        let arch: Architecture = parse("architecture", get("architecture")?)?;
        let features: Vec<Feature> =
            parse_tagged("features", get("features")?, &FEATURE_KIND_LIST, |kind| {
                LearnError::UnknownFeature {
                    kind,
                    known: FEATURE_KINDS,
                }
            })?;
        let outputs: Vec<Output> =
            parse_tagged("outputs", get("outputs")?, &OUTPUT_KIND_LIST, |kind| {
                LearnError::UnknownOutput {
                    kind,
                    known: OUTPUT_KINDS,
                }
            })?;
        let guard: SupportGuard = parse("guard", get("guard")?)?;
        let normalization: Normalization = parse("normalization", get("normalization")?)?;
        let support: Support = parse("support", get("support")?)?;

        if arch.nx != NX {
            return Err(LearnError::mismatch(
                "state dimension (architecture.nx)",
                NX,
                arch.nx,
            ));
        }
        if arch.nu != NU {
            return Err(LearnError::mismatch(
                "input dimension (architecture.nu)",
                NU,
                arch.nu,
            ));
        }
        let sizes = &arch.layer_sizes;
        if sizes.len() < 2 {
            return Err(LearnError::invalid(
                "architecture.layer_sizes",
                "needs at least an input and an output width",
            ));
        }
        let spec = ResidualSpec {
            features,
            outputs,
            hidden: sizes[1..sizes.len() - 1].to_vec(),
            activation: arch.activation,
            guard,
        };
        if spec.n_features(NU) != sizes[0] {
            return Err(LearnError::mismatch(
                "network inputs (the features' total width)",
                spec.n_features(NU),
                sizes[0],
            ));
        }
        if spec.n_outputs() != sizes[sizes.len() - 1] {
            return Err(LearnError::mismatch(
                "network outputs (the output map's total width)",
                spec.n_outputs(),
                sizes[sizes.len() - 1],
            ));
        }
        spec.validate(NX, NU)?;

        let n_layers = sizes.len() - 1;
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let (inputs, outputs) = (sizes[l], sizes[l + 1]);
            let weight = read_tensor(&tensors, &format!("layers.{l}.weight"), &[outputs, inputs])?;
            let bias = read_tensor(&tensors, &format!("layers.{l}.bias"), &[outputs])?;
            layers.push(Layer {
                inputs,
                outputs,
                weight,
                bias,
            });
        }
        let skip = if arch.linear_skip {
            let shape = [sizes[n_layers], sizes[0]];
            Some(read_tensor(&tensors, "skip.weight", &shape)?)
        } else {
            None
        };
        if let Some(extra) = tensors.names().into_iter().find(|name| {
            !((arch.linear_skip && *name == "skip.weight")
                || (0..n_layers).any(|l| {
                    *name == format!("layers.{l}.weight") || *name == format!("layers.{l}.bias")
                }))
        }) {
            return Err(LearnError::invalid(
                "tensors",
                format!("unexpected tensor `{extra}` for a {n_layers}-layer network"),
            ));
        }
        let network = Network {
            activation: arch.activation,
            layers,
            skip,
        };
        Self::new(spec, network, normalization, support)
    }
}

fn parse<T: DeserializeOwned>(key: &'static str, text: &str) -> Result<T, LearnError> {
    serde_json::from_str(text).map_err(|e| LearnError::BadMetadata {
        key,
        message: e.to_string(),
    })
}

/// Parses a JSON list of `kind`-tagged objects, reporting a kind this build
/// does not know as its own error rather than a generic parse failure.
fn parse_tagged<T: DeserializeOwned>(
    key: &'static str,
    text: &str,
    known: &[&str],
    unknown: impl Fn(String) -> LearnError,
) -> Result<Vec<T>, LearnError> {
    let items: Vec<Value> = parse(key, text)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item.get("kind").and_then(Value::as_str) {
            Some(kind) if !known.contains(&kind) => return Err(unknown(kind.to_string())),
            None => {
                return Err(LearnError::BadMetadata {
                    key,
                    message: format!("entry {i} has no string `kind`"),
                })
            }
            Some(_) => {}
        }
        out.push(
            serde_json::from_value(item).map_err(|e| LearnError::BadMetadata {
                key,
                message: format!("entry {i}: {e}"),
            })?,
        );
    }
    Ok(out)
}

fn read_tensor(
    tensors: &SafeTensors<'_>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f64>, LearnError> {
    let view = tensors
        .tensor(name)
        .map_err(|_| LearnError::MissingTensor {
            name: name.to_string(),
        })?;
    if view.shape() != shape {
        // Report the first differing axis (or the rank).
        let (expected, found, what) = if view.shape().len() != shape.len() {
            (
                shape.len(),
                view.shape().len(),
                format!("rank of tensor `{name}`"),
            )
        } else {
            let axis = (0..shape.len())
                .find(|&a| view.shape()[a] != shape[a])
                .unwrap_or(0);
            (
                shape[axis],
                view.shape()[axis],
                format!("axis {axis} of tensor `{name}` (shape {:?})", view.shape()),
            )
        };
        return Err(LearnError::mismatch(what, expected, found));
    }
    let data = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect(),
        other => {
            return Err(LearnError::WrongDtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            })
        }
    };
    crate::error::check_finite(&format!("tensor `{name}`"), &values)?;
    Ok(values)
}

/// One header entry as JSON text. The types written here always serialise
/// (no maps with non-string keys); a non-finite float becomes `null`, which
/// loading then rejects.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

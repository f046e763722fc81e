//! Model files: bit-exact round trip, and every kind of bad file rejected
//! with its own error (never a panic).

mod common;

use nalgebra::SVector;
use recede_learn::{Activation, LearnError, MlpResidual, SupportGuard, FORMAT_VERSION};
use recede_model::Residual;

use common::{
    cartpole_spec, edit_header, get_meta, quadrotor_spec, random_model, set_meta, unit_quaternion,
};

fn model() -> MlpResidual<13, 4> {
    random_model(
        quadrotor_spec(Activation::Softplus, SupportGuard::Fade { width_std: 0.7 }),
        21,
    )
}

fn eval(m: &MlpResidual<13, 4>, k: usize) -> SVector<f64, 13> {
    let q = unit_quaternion([0.1 * k as f64, 0.3, 0.77]);
    let x = SVector::<f64, 13>::from_column_slice(&[
        0.0,
        0.0,
        2.0,
        q[0],
        q[1],
        q[2],
        q[3],
        3.0 - k as f64,
        1.0,
        -0.5,
        0.1,
        0.0,
        -0.2,
    ]);
    let u = SVector::<f64, 4>::new(2.0, 2.5, 3.0, 1.0 + k as f64);
    let mut out = SVector::zeros();
    m.add_to(&x, &u, &mut out);
    out
}

#[test]
fn save_load_round_trip_is_bit_exact() {
    let original = model();
    let dir = std::env::temp_dir().join(format!("recede-learn-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("residual.safetensors");
    original.save(&path).unwrap();
    let loaded = MlpResidual::<13, 4>::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(loaded.spec(), original.spec());
    for (a, b) in loaded
        .network()
        .layers
        .iter()
        .zip(&original.network().layers)
    {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.weight), bits(&b.weight));
        assert_eq!(bits(&a.bias), bits(&b.bias));
    }
    assert_eq!(loaded.normalization(), original.normalization());
    assert_eq!(loaded.support(), original.support());
    assert_eq!(loaded.to_bytes(), original.to_bytes());
    for k in 0..8 {
        assert_eq!(eval(&loaded, k), eval(&original, k));
    }
}

#[test]
fn the_file_is_readable_by_the_safetensors_crate_with_the_documented_header() {
    let bytes = model().to_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight"
        ]
    );
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), &[10, 12]);
    assert_eq!(get_meta(&bytes, "format"), "recede.residual_mlp");
    assert_eq!(
        get_meta(&bytes, "format_version"),
        FORMAT_VERSION.to_string()
    );
    let arch: serde_json::Value = serde_json::from_str(&get_meta(&bytes, "architecture")).unwrap();
    assert_eq!(arch["layer_sizes"], serde_json::json!([12, 10, 3]));
    assert_eq!(arch["activation"], "softplus");
    assert_eq!(arch["nx"], 13);
}

#[test]
fn truncated_or_garbage_bytes_are_rejected() {
    let bytes = model().to_bytes();
    for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let err = MlpResidual::<13, 4>::from_bytes(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, LearnError::NotSafetensors(_)),
            "cut {cut}: {err}"
        );
    }
    let mut garbage = bytes.clone();
    garbage[8] = b'#';
    assert!(matches!(
        MlpResidual::<13, 4>::from_bytes(&garbage),
        Err(LearnError::NotSafetensors(_))
    ));
    let err = MlpResidual::<13, 4>::load("/nonexistent/residual.safetensors").unwrap_err();
    assert!(matches!(err, LearnError::Io { .. }));
    assert!(err
        .to_string()
        .contains("/nonexistent/residual.safetensors"));
}

#[test]
fn another_version_or_format_is_rejected() {
    let bytes = model().to_bytes();
    let err =
        MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "format_version", "2")).unwrap_err();
    assert!(
        matches!(&err, LearnError::UnsupportedVersion { found, supported: 1 } if found == "2"),
        "{err}"
    );
    let err = MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "format", "pytorch")).unwrap_err();
    assert!(matches!(err, LearnError::WrongFormat { .. }), "{err}");
    let no_meta = edit_header(&bytes, |h| {
        h.as_object_mut().unwrap().remove("__metadata__");
    });
    assert!(matches!(
        MlpResidual::<13, 4>::from_bytes(&no_meta),
        Err(LearnError::MissingMetadata { key: "format" })
    ));
    let no_support = edit_header(&bytes, |h| {
        h["__metadata__"].as_object_mut().unwrap().remove("support");
    });
    assert!(matches!(
        MlpResidual::<13, 4>::from_bytes(&no_support),
        Err(LearnError::MissingMetadata { key: "support" })
    ));
}

#[test]
fn unknown_features_and_outputs_are_named() {
    let bytes = model().to_bytes();
    let features = get_meta(&bytes, "features").replace("input_sum", "wind_speed");
    let err =
        MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "features", &features)).unwrap_err();
    assert!(
        matches!(&err, LearnError::UnknownFeature { kind, .. } if kind == "wind_speed"),
        "{err}"
    );
    assert!(
        err.to_string().contains("body_velocity"),
        "lists the known kinds: {err}"
    );
    let outputs = get_meta(&bytes, "outputs").replace("world_from_body", "torque");
    let err = MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "outputs", &outputs)).unwrap_err();
    assert!(matches!(err, LearnError::UnknownOutput { .. }), "{err}");
    // A known kind with an unknown field is a header error naming the key.
    let features = get_meta(&bytes, "features").replace("\"index\":2", "\"index\":2,\"gain\":3");
    let err =
        MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "features", &features)).unwrap_err();
    assert!(
        matches!(
            err,
            LearnError::BadMetadata {
                key: "features",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn mismatched_dimensions_are_rejected() {
    let bytes = model().to_bytes();
    // A quadrotor model loaded as a cart-pole model.
    let err = MlpResidual::<4, 1>::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            LearnError::DimensionMismatch {
                expected: 4,
                found: 13,
                ..
            }
        ),
        "{err}"
    );
    // Architecture that disagrees with the tensors.
    let arch = get_meta(&bytes, "architecture").replace("[12,10,3]", "[12,11,3]");
    let err =
        MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "architecture", &arch)).unwrap_err();
    assert!(matches!(err, LearnError::DimensionMismatch { .. }), "{err}");
    assert!(err.to_string().contains("layers.0.weight"), "{err}");
    // Features whose width disagrees with the network input.
    let features = get_meta(&bytes, "features").replace("{\"kind\":\"input_sum\"},", "");
    let err =
        MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "features", &features)).unwrap_err();
    assert!(
        matches!(
            err,
            LearnError::DimensionMismatch {
                expected: 11,
                found: 12,
                ..
            }
        ),
        "{err}"
    );
    // A state index out of range.
    let features = get_meta(&bytes, "features").replace("\"index\":10", "\"index\":13");
    let err =
        MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "features", &features)).unwrap_err();
    assert!(matches!(err, LearnError::Invalid { .. }), "{err}");
    // Normalisation of the wrong length.
    let norm = get_meta(&bytes, "normalization");
    let mut v: serde_json::Value = serde_json::from_str(&norm).unwrap();
    v["output_std"].as_array_mut().unwrap().pop();
    let err = MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "normalization", &v.to_string()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            LearnError::DimensionMismatch {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    // A layer wider than the inference buffers.
    let wide = MlpResidual::<4, 1>::new(
        {
            let mut s = cartpole_spec(Activation::Tanh, SupportGuard::Clip);
            s.hidden = vec![65];
            s
        },
        recede_learn::Network::zeros(&[5, 65, 2], Activation::Tanh),
        recede_learn::Normalization::identity(5, 2),
        recede_learn::Support::unbounded(5),
    );
    assert!(matches!(
        wide,
        Err(LearnError::TooWide {
            width: 65,
            max: 64,
            ..
        })
    ));
}

/// Offset of a tensor's data in the file.
fn data_start(bytes: &[u8], name: &str) -> usize {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    8 + n + header[name]["data_offsets"][0].as_u64().unwrap() as usize
}

#[test]
fn non_finite_weights_and_normalisation_are_rejected() {
    let bytes = model().to_bytes();
    for (bad, name) in [
        (f64::NAN, "layers.1.weight"),
        (f64::INFINITY, "layers.0.bias"),
    ] {
        let mut b = bytes.clone();
        let at = data_start(&b, name) + 8;
        b[at..at + 8].copy_from_slice(&bad.to_le_bytes());
        let err = MlpResidual::<13, 4>::from_bytes(&b).unwrap_err();
        assert!(
            matches!(&err, LearnError::NonFinite { what, index: 1 } if what.contains(name)),
            "{err}"
        );
    }
    // JSON has no NaN; a null (what a NaN turns into) is a header error.
    let norm = get_meta(&bytes, "normalization");
    let mut v: serde_json::Value = serde_json::from_str(&norm).unwrap();
    v["feature_std"][0] = serde_json::Value::Null;
    let err = MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "normalization", &v.to_string()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            LearnError::BadMetadata {
                key: "normalization",
                ..
            }
        ),
        "{err}"
    );
    v["feature_std"][0] = serde_json::json!(0.0);
    let err = MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "normalization", &v.to_string()))
        .unwrap_err();
    assert!(matches!(err, LearnError::Invalid { .. }), "{err}");
    let support = get_meta(&bytes, "support");
    let mut s: serde_json::Value = serde_json::from_str(&support).unwrap();
    s["feature_min"][2] = serde_json::json!(5.0);
    s["feature_max"][2] = serde_json::json!(-5.0);
    let err =
        MlpResidual::<13, 4>::from_bytes(&set_meta(&bytes, "support", &s.to_string())).unwrap_err();
    assert!(matches!(err, LearnError::Invalid { .. }), "{err}");
}

#[test]
fn wrong_dtype_missing_and_extra_tensors_are_rejected() {
    let bytes = model().to_bytes();
    let err = MlpResidual::<13, 4>::from_bytes(&edit_header(&bytes, |h| {
        h["layers.0.bias"]["dtype"] = "I64".into();
    }))
    .unwrap_err();
    assert!(matches!(err, LearnError::WrongDtype { .. }), "{err}");
    let renamed = edit_header(&bytes, |h| {
        let o = h.as_object_mut().unwrap();
        let t = o.remove("layers.1.bias").unwrap();
        o.insert("layers.2.bias".into(), t);
    });
    let err = MlpResidual::<13, 4>::from_bytes(&renamed).unwrap_err();
    assert!(
        matches!(&err, LearnError::MissingTensor { name } if name == "layers.1.bias"),
        "{err}"
    );
}

/// A file written by `examples/export_from_pytorch.py` (without PyTorch
/// installed it writes its fixed example weights as float32, as PyTorch would).
#[test]
fn file_from_the_python_exporter_loads() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exported_f32.safetensors"
    );
    let m = MlpResidual::<13, 4>::load(path).unwrap();
    assert_eq!(m.n_features(), 9);
    assert_eq!(m.n_outputs(), 3);
    assert_eq!(m.spec().hidden, vec![16, 16]);
    let out = eval(&m, 1);
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(out.fixed_rows::<3>(7).norm() > 0.0);
    // The float32 weights became the same f64 values exactly; writing the
    // model again (as f64) and reading it back changes nothing.
    let again = MlpResidual::<13, 4>::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(eval(&again, 3), eval(&m, 3));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Corrupting any bytes (header or data) gives an error or a valid model,
    /// never a panic; a model that loads is fully checked, so it is finite.
    #[test]
    fn corrupted_files_never_panic(
        edits in proptest::collection::vec((0.0..1.0f64, proptest::prelude::any::<u8>()), 1..6),
    ) {
        let mut bytes = model().to_bytes();
        let len = bytes.len();
        for (at, value) in edits {
            bytes[((at * len as f64) as usize).min(len - 1)] = value;
        }
        if let Ok(m) = MlpResidual::<13, 4>::from_bytes(&bytes) {
            for layer in &m.network().layers {
                proptest::prop_assert!(layer.weight.iter().all(|w| w.is_finite()));
            }
        }
    }
}

//! The `[estimator]` and `[perception]` tables: defaults, unknown keys,
//! errors naming the key.

use recede_perception::{EkfConfig, PerceptionConfig};
use serde::Deserialize;

/// `[estimator]` as a scenario file wraps it (the program's own enum adds
/// `truth`).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum EstimatorConfig {
    Truth,
    Ekf(EkfConfig),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    estimator: EstimatorConfig,
    #[serde(default)]
    perception: PerceptionConfig,
}

#[test]
fn tables_parse_with_defaults_and_reject_unknown_keys() {
    let f: File = toml::from_str(
        "[estimator]\nkind = \"ekf\"\nhistory_secs = 0.3\n\
         [perception.obstacles]\ncell_size_m = 0.2\n",
    )
    .unwrap();
    let EstimatorConfig::Ekf(ekf) = &f.estimator else {
        panic!("ekf expected")
    };
    assert_eq!(ekf.history_secs, 0.3);
    assert_eq!(ekf.gate_chi2_imu, EkfConfig::default().gate_chi2_imu);
    assert_eq!(f.perception.obstacles.cell_size_m, 0.2);
    ekf.validate().unwrap();
    f.perception.validate().unwrap();

    let truth: File = toml::from_str("[estimator]\nkind = \"truth\"\n").unwrap();
    assert_eq!(truth.estimator, EstimatorConfig::Truth);

    let e = toml::from_str::<File>("[estimator]\nkind = \"ekf\"\nhistory_sec = 0.3\n").unwrap_err();
    assert!(e.to_string().contains("history_sec"), "{e}");
    let e = toml::from_str::<File>(
        "[estimator]\nkind = \"ekf\"\n[perception.targets]\nthreshold = 3\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("threshold"), "{e}");
}

#[test]
fn invalid_values_name_their_key() {
    let ekf = EkfConfig {
        gate_chi2_position_fix: -1.0,
        ..EkfConfig::default()
    };
    let e = ekf.validate().unwrap_err().to_string();
    assert!(e.contains("estimator.gate_chi2_position_fix"), "{e}");
    let mut p = PerceptionConfig::default();
    p.obstacles.cell_size_m = 0.0;
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("perception.obstacles.cell_size_m"), "{e}");
    let mut p = PerceptionConfig::default();
    p.targets.min_pixels = 0;
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("perception.targets.min_pixels"), "{e}");
    // The loop's world model carries at most MAX_OBSTACLES obstacles.
    let mut p = PerceptionConfig::default();
    p.obstacles.max_tracks = recede_msg::MAX_OBSTACLES as u32 + 1;
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("perception.obstacles.max_tracks"), "{e}");
}

//! `[robot] kind = "linear_discrete"`: a discrete map `x+ = A x + B u`
//! read from a file, stepped once per period by the integrator (no RK4),
//! its Jacobians exactly `A` and `B`; hostile files refused with the file,
//! the key and what was expected.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::{SMatrix, SVector};
use recede_model::file::{linear, FileError, FileRobot, LinearOptions};
use recede_model::robots::RobotConfig;
use recede_model::{DiscreteModel, Discretized, LinearModel, Rk4};

const P3: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/p3_quadcopter_lmpc.json"
);

fn p3_options() -> LinearOptions {
    LinearOptions {
        a: "Ad".into(),
        b: "Bd".into(),
        period_secs: 0.1,
    }
}

/// The example's matrices as read by serde_json directly.
fn p3_matrices() -> LinearModel<12, 4> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(P3).unwrap()).unwrap();
    let m = |key: &str, i: usize, j: usize| v[key][i][j].as_f64().unwrap();
    LinearModel {
        a: SMatrix::from_fn(|i, j| m("Ad", i, j)),
        b: SMatrix::from_fn(|i, j| m("Bd", i, j)),
        c: SVector::zeros(),
    }
}

fn p3_robot() -> FileRobot<12, 4> {
    FileRobot::new(Arc::new(
        linear::load(Path::new(P3), &p3_options()).unwrap(),
    ))
    .unwrap()
}

/// A state and input with every entry non-zero, drawn from a fixed LCG.
fn point(seed: u64) -> (SVector<f64, 12>, SVector<f64, 4>) {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
    };
    (
        SVector::from_fn(|_, _| next()),
        SVector::from_fn(|_, _| next()),
    )
}

#[test]
fn the_map_is_stepped_once_per_period_with_its_own_jacobians() {
    let reference = p3_matrices();
    let robot = p3_robot();
    assert_eq!(robot.model.discrete_period_secs, Some(0.1));
    assert_eq!(robot.model.kind, "linear_discrete");
    // Whatever the integrator's substeps: one application of the map.
    let shooting = Discretized::new(robot.clone(), Rk4::new(0.1, 4));
    assert!(shooting.is_linear_time_invariant());
    for seed in 0..20 {
        let (x, u) = point(seed);
        let want = reference.step(&x, &u);
        let got = shooting.step(&x, &u);
        assert!(
            (got - want).abs().max() < 1e-14,
            "{seed}: {}",
            (got - want).abs().max()
        );
        let lin = shooting.linearize(&x, &u);
        assert_eq!(lin.x_next, got, "the linearisation's value is the step's");
        assert_eq!(lin.a, reference.a);
        assert_eq!(lin.b, reference.b);
        // The duals through the map agree with the matrices.
        let duals = Rk4::new(0.1, 1).linearize_by_duals(&robot, &x, &u);
        assert!((duals.a - reference.a).abs().max() < 1e-15);
        assert!((duals.b - reference.b).abs().max() < 1e-15);
        assert!((duals.x_next - got).abs().max() < 1e-15);
        // And finite differences agree with both.
        let h = 1e-6;
        for j in 0..12 {
            let mut xp = x;
            xp[j] += h;
            let col = (shooting.step(&xp, &u) - got) / h;
            assert!((col - reference.a.column(j)).abs().max() < 1e-8);
        }
    }
}

#[test]
fn the_scenario_table_names_the_file_its_keys_and_period() {
    let text = format!(
        "kind = \"linear_discrete\"\npath = \"{P3}\"\na = \"Ad\"\nb = \"Bd\"\nperiod_secs = 0.1\n"
    );
    let robot: RobotConfig = toml::from_str(&text).unwrap();
    assert_eq!(robot.kind(), "linear_discrete");
    assert_eq!(robot.dimensions(), (12, 4));
    robot.validate().unwrap();
    // Written back as it was read.
    let again: RobotConfig = toml::from_str(&toml::to_string(&robot).unwrap()).unwrap();
    assert_eq!(again, robot);
    let unknown = format!("{text}c = \"C\"\n");
    assert!(toml::from_str::<RobotConfig>(&unknown).is_err());
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recede-linear-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn refused(name: &str, text: &str, period: f64) -> (String, String, String) {
    let path = write(name, text);
    let options = LinearOptions {
        a: "A".into(),
        b: "B".into(),
        period_secs: period,
    };
    match linear::load(&path, &options) {
        Err(FileError::Invalid {
            file,
            key,
            expected,
            found,
        }) => {
            assert_eq!(file, path.display().to_string());
            (key, expected, found)
        }
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn hostile_files_name_the_file_the_key_and_the_expectation() {
    let (key, expected, _) = refused(
        "ragged.toml",
        "A = [[1.0, 0.0], [0.0]]\nB = [[1.0], [0.0]]\n",
        0.1,
    );
    assert_eq!(key, "A");
    assert!(expected.contains("square"), "{expected}");
    let (key, expected, found) = refused(
        "tall.toml",
        "A = [[1.0, 0.0], [0.0, 1.0]]\nB = [[1.0]]\n",
        0.1,
    );
    assert_eq!(key, "B");
    assert!(expected.contains("as many rows as A (2)"), "{expected}");
    assert!(found.starts_with("1 rows"), "{found}");
    let (key, _, found) = refused(
        "nan.toml",
        "A = [[1.0, nan], [0.0, 1.0]]\nB = [[1.0], [0.0]]\n",
        0.1,
    );
    assert_eq!(key, "A");
    assert!(found.contains("NaN at row 0, column 1"), "{found}");
    let (key, _, found) = refused(
        "inf.toml",
        "A = [[1.0, 0.0], [0.0, 1.0]]\nB = [[inf], [0.0]]\n",
        0.1,
    );
    assert_eq!(key, "B");
    assert!(found.contains("inf at row 0, column 0"), "{found}");
    let (key, _, found) = refused("text.json", r#"{"A": [[1, "x"]], "B": [[1]]}"#, 0.1);
    assert_eq!(key, "A");
    assert!(found.contains("\"x\""), "{found}");
    let (key, _, found) = refused("missing.json", r#"{"A": [[1]]}"#, 0.1);
    assert_eq!((key.as_str(), found.as_str()), ("B", "no such key"));
    let (key, _, _) = refused("empty.json", r#"{"A": [], "B": []}"#, 0.1);
    assert_eq!(key, "A");
    let (key, expected, _) = refused("period.json", r#"{"A": [[1]], "B": [[1]]}"#, 0.0);
    assert_eq!(key, "period_secs");
    assert!(expected.contains("> 0"), "{expected}");
    // Not JSON at all: the parser's message, with the file.
    let path = write("broken.json", "{\"A\": [[1]");
    let err = linear::load(&path, &p3_options()).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
}

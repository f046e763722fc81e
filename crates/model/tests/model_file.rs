//! Model files: the cart-pole file against the built-in cart-pole (bit for
//! bit), AD Jacobians of file robots against finite differences, the
//! errors a broken file gives (file, line, symbol), and no allocation per
//! evaluation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::SVector;
use proptest::prelude::*;
use recede_model::file::{self, ExprProblem, FileError, FileRobot, ModelFile};
use recede_model::robots::CartPole;
use recede_model::{Dynamics, Rk4};
use recede_test_support::{counting, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const PI: f64 = std::f64::consts::PI;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/models")
}

fn cartpole() -> FileRobot<4, 1> {
    let model = file::load(&models().join("cartpole.toml")).expect("cartpole.toml loads");
    FileRobot::new(Arc::new(model)).expect("4 states, 1 input")
}

fn vtol() -> FileRobot<6, 2> {
    let model = file::load(&models().join("vtol.toml")).expect("vtol.toml loads");
    FileRobot::new(Arc::new(model)).expect("6 states, 2 inputs")
}

fn scaled<const N: usize>(unit: &[f64], lo: [f64; N], hi: [f64; N]) -> SVector<f64, N> {
    SVector::from_fn(|i, _| lo[i] + unit[i] * (hi[i] - lo[i]))
}

/// AD Jacobians of the RK4 step against central differences (relative
/// 1e-6), and the step's value equal to `linearize`'s bit for bit.
fn check_jacobians<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    model: &D,
    x: &SVector<f64, NX>,
    u: &SVector<f64, NU>,
) -> Result<(), TestCaseError> {
    let rk = Rk4::new(0.02, 2);
    let lin = rk.linearize(model, x, u);
    let stepped = rk.step(model, x, u);
    for i in 0..NX {
        prop_assert_eq!(stepped[i].to_bits(), lin.x_next[i].to_bits());
    }
    for j in 0..NX + NU {
        let (mut xp, mut xm, mut up, mut um) = (*x, *x, *u, *u);
        let h = if j < NX {
            let h = 1e-6 * x[j].abs().max(1.0);
            xp[j] += h;
            xm[j] -= h;
            xp[j] - xm[j]
        } else {
            let h = 1e-6 * u[j - NX].abs().max(1.0);
            up[j - NX] += h;
            um[j - NX] -= h;
            up[j - NX] - um[j - NX]
        };
        let fd = (rk.step(model, &xp, &up) - rk.step(model, &xm, &um)) / h;
        for i in 0..NX {
            let ad = if j < NX {
                lin.a[(i, j)]
            } else {
                lin.b[(i, j - NX)]
            };
            prop_assert!(
                (ad - fd[i]).abs() <= 1e-6 * ad.abs().max(1.0),
                "d x_next[{}] / d var[{}]: AD {:e} vs FD {:e}",
                i,
                j,
                ad,
                fd[i]
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_cartpole_file_is_the_builtin_bit_for_bit(s in prop::collection::vec(0.0f64..1.0, 5)) {
        let x = scaled(&s[..4], [-2.0, -PI, -3.0, -6.0], [2.0, PI, 3.0, 6.0]);
        let u = scaled(&s[4..], [-80.0], [80.0]);
        let (file, builtin) = (cartpole(), CartPole::default());
        let (a, b) = (file.derivative(&x, &u), builtin.derivative(&x, &u));
        for i in 0..4 {
            prop_assert_eq!(a[i].to_bits(), b[i].to_bits(), "x'[{}]", i);
        }
        let rk = Rk4::new(0.02, 1);
        let (la, lb) = (rk.linearize(&file, &x, &u), rk.linearize(&builtin, &x, &u));
        prop_assert_eq!(la, lb);
    }

    #[test]
    fn cartpole_file_jacobians(s in prop::collection::vec(0.0f64..1.0, 5)) {
        let x = scaled(&s[..4], [-2.0, -PI, -3.0, -6.0], [2.0, PI, 3.0, 6.0]);
        let u = scaled(&s[4..], [-80.0], [80.0]);
        check_jacobians(&cartpole(), &x, &u)?;
    }

    #[test]
    fn vtol_file_jacobians(s in prop::collection::vec(0.0f64..1.0, 8)) {
        let x = scaled(&s[..6], [-5.0, 0.0, -1.5, -3.0, -3.0, -5.0], [5.0, 5.0, 1.5, 3.0, 3.0, 5.0]);
        let u = scaled(&s[6..], [0.0; 2], [10.0; 2]);
        check_jacobians(&vtol(), &x, &u)?;
    }
}

#[test]
fn vtol_hovers_at_its_safe_input_and_pitching_moves_it_along_x() {
    let robot = vtol();
    let x = SVector::<f64, 6>::from_column_slice(&[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    let hover = robot.derivative(&x, &robot.safe_input());
    assert!(hover.norm() < 1e-12, "{hover}");
    // Pitched +0.1 rad: accelerates towards +x, and the drawn attitude
    // turns the body's z axis the same way.
    let pitched = SVector::<f64, 6>::from_column_slice(&[0.0, 1.0, 0.1, 0.0, 0.0, 0.0]);
    assert!(robot.derivative(&pitched, &robot.safe_input())[3] > 0.0);
    let (_, q, _) = robot.model.placement(pitched.as_slice());
    let z_axis_x = 2.0 * (q[1] * q[3] + q[0] * q[2]);
    assert!(z_axis_x > 0.0, "{q:?}");
    // More thrust on the left rotor pitches it up (+theta).
    let u = SVector::<f64, 2>::new(5.0, 4.8);
    assert!(robot.derivative(&x, &u)[5] > 0.0);
}

#[test]
fn parameters_are_overridden_by_name_and_unknown_ones_rejected() {
    let path = models().join("cartpole.toml");
    let heavy = file::load_with(&path, &BTreeMap::from([("M".to_string(), 2.0)])).unwrap();
    assert_eq!(heavy.parameters["M"], 2.0);
    let x = [0.0, 0.3, 0.0, 0.0];
    let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
    heavy.derivative(&x, &[1.0], &mut a);
    file::load(&path).unwrap().derivative(&x, &[1.0], &mut b);
    assert!(
        a[2] < b[2],
        "a heavier cart accelerates less: {a:?} vs {b:?}"
    );
    let err = file::load_with(&path, &BTreeMap::from([("mass".to_string(), 2.0)])).unwrap_err();
    assert!(err.to_string().contains("params.mass"), "{err}");
}

#[test]
fn evaluation_allocates_nothing() {
    let (cart, plane) = (cartpole(), vtol());
    let (x4, u1) = (
        SVector::<f64, 4>::new(0.1, 0.2, 0.3, 0.4),
        SVector::<f64, 1>::new(2.0),
    );
    let x6 = SVector::<f64, 6>::from_column_slice(&[0.0, 1.0, 0.1, 0.2, 0.0, 0.3]);
    let rk = Rk4::new(0.02, 2);
    let (allocations, _) = counting(|| {
        let a = rk.linearize(&cart, &x4, &u1);
        let b = rk.linearize(&plane, &x6, &plane.safe_input());
        let c = cart.derivative(&x4, &u1);
        (a, b, c)
    });
    assert_eq!(allocations, 0);
}

/// A minimal model around `derivative` and `extra` lines.
fn parse(derivative: &str, extra: &str) -> Result<ModelFile, FileError> {
    let text = format!(
        "[parameters]\nk = {{ value = 2.0 }}\n\n[[state]]\nname = \"q\"\nderivative = \"{derivative}\"\n\n[[input]]\nname = \"u\"\nmin = -1.0\nmax = 1.0\n{extra}"
    );
    ModelFile::parse(&text, "test.toml", "test", &BTreeMap::new())
}

fn expression_error(e: FileError) -> (usize, String, ExprProblem) {
    match e {
        FileError::Expression {
            file,
            line,
            symbol,
            problem,
            ..
        } => {
            assert_eq!(file, "test.toml");
            (line, symbol, problem)
        }
        other => panic!("expected an expression error, got {other}"),
    }
}

#[test]
fn errors_name_the_file_the_line_and_the_symbol() {
    assert!(parse("k * q + u", "").is_ok());

    let (line, symbol, problem) = expression_error(parse("k * qq + u", "").unwrap_err());
    assert_eq!(
        (line, symbol.as_str(), problem),
        (6, "qq", ExprProblem::UnknownVariable)
    );

    let (_, symbol, problem) = expression_error(parse("sin(q, u)", "").unwrap_err());
    assert_eq!(symbol, "sin");
    assert_eq!(
        problem,
        ExprProblem::Arity {
            expected: 1,
            got: 2
        }
    );

    let (_, symbol, problem) = expression_error(parse("q +", "").unwrap_err());
    assert_eq!(symbol, "+");
    assert!(
        matches!(problem, ExprProblem::Arity { expected: 2, .. }),
        "{problem:?}"
    );

    let (_, _, problem) = expression_error(parse("q / 0", "").unwrap_err());
    assert_eq!(problem, ExprProblem::DivisionByZero);
    let (_, _, problem) = expression_error(parse("q / (k - 2)", "").unwrap_err());
    assert_eq!(problem, ExprProblem::DivisionByZero);

    let (_, symbol, problem) = expression_error(parse("foo(q)", "").unwrap_err());
    assert_eq!(
        (symbol.as_str(), problem),
        ("foo", ExprProblem::UnknownFunction)
    );

    let (_, _, problem) = expression_error(parse("q ^ u", "").unwrap_err());
    assert_eq!(problem, ExprProblem::VariableExponent);

    let (_, _, problem) = expression_error(parse("q == u", "").unwrap_err());
    assert!(
        matches!(problem, ExprProblem::Unsupported(_)),
        "{problem:?}"
    );

    // A definition used in a cycle: named at its own line (14 or 15).
    let cyc = "\n[definitions]\na = \"b + 1\"\nb = \"a * 2\"\n";
    let (line, _, problem) = expression_error(parse("a", cyc).unwrap_err());
    assert_eq!(problem, ExprProblem::Cycle);
    assert!(line == 14 || line == 15, "{line}");

    // An unused definition is still checked.
    let unused = "\n[definitions]\nunused = \"zz\"\n";
    let (line, symbol, _) = expression_error(parse("q", unused).unwrap_err());
    assert_eq!((line, symbol.as_str()), (14, "zz"));

    // A mapping reads no inputs.
    let mapping = "\n[mapping]\nposition = [\"q\", \"u\", \"0\"]\n";
    let (_, symbol, problem) = expression_error(parse("q", mapping).unwrap_err());
    assert_eq!(
        (symbol.as_str(), problem),
        ("u", ExprProblem::InputInMapping)
    );
}

#[test]
fn a_nan_at_the_initial_state_is_an_error_naming_the_line() {
    match parse("sqrt(q - 1)", "").unwrap_err() {
        FileError::NotFinite {
            file,
            line,
            state,
            value,
        } => {
            assert_eq!((file.as_str(), line, state.as_str()), ("test.toml", 6, "q"));
            assert!(value.is_nan());
        }
        other => panic!("{other}"),
    }
    // Division by a state that is 0 there: infinite.
    assert!(matches!(
        parse("1 / q", "").unwrap_err(),
        FileError::NotFinite { .. }
    ));
}

#[test]
fn names_are_unique_and_files_must_exist() {
    let dup = "\n[definitions]\nk = \"q\"\n";
    let err = parse("q", dup).unwrap_err();
    assert!(
        matches!(err, FileError::Duplicate { ref name, .. } if name == "k"),
        "{err}"
    );
    let err = file::load(Path::new("no/such/model.toml")).unwrap_err();
    assert!(err.to_string().starts_with("no/such/model.toml: "), "{err}");
    let err =
        ModelFile::parse("[[state]]\nname = 3\n", "bad.toml", "bad", &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().starts_with("bad.toml: "), "{err}");
}

#[test]
fn sizes_outside_the_supported_list_are_named() {
    assert!(file::is_supported(4, 1) && file::is_supported(6, 2));
    assert!(!file::is_supported(3, 1));
    let model = Arc::new(file::load(&models().join("cartpole.toml")).unwrap());
    let err = FileRobot::<6, 2>::new(model).unwrap_err();
    assert!(err.to_string().contains("4 states and 1 inputs"), "{err}");
}

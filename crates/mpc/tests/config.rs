//! Bad controller configurations: each is refused with an error that names
//! the offending key.

mod common;

use common::P1_TOML;
use recede_mpc::{InitialGuess, MpcConfig, MpcError, SoftPenalty, StateBoundConfig};

/// P1's controller table with `extra` appended (TOML: a later top-level
/// key must come before any table, so `extra` holds plain keys or tables).
fn parse(extra: &str) -> Result<MpcConfig, toml::de::Error> {
    toml::from_str(&format!("{P1_TOML}\n{extra}"))
}

/// The key of the `Config` error that checking `cfg` against the cart-pole
/// sizes raises.
fn config_error_key(cfg: &MpcConfig) -> String {
    match cfg.to_spec::<4, 1>() {
        Err(MpcError::Config {
            key,
            expected,
            found,
        }) => {
            assert!(!expected.is_empty() && !found.is_empty());
            key
        }
        Err(other) => panic!("expected a Config error, got {other:?}"),
        Ok(_) => panic!("accepted a bad config: {cfg:?}"),
    }
}

fn assert_rejected(extra: &str, key: &str) {
    let cfg = parse(extra).unwrap_or_else(|e| panic!("`{extra}` should parse: {e}"));
    assert_eq!(config_error_key(&cfg), key, "for `{extra}`");
}

fn base() -> MpcConfig {
    parse("").expect("P1 parses")
}

#[test]
fn the_base_config_is_valid() {
    base().to_spec::<4, 1>().expect("P1 is valid");
}

#[test]
fn wrong_vector_lengths_name_the_vector() {
    let mut cfg = base();
    cfg.state_weights = vec![1.0; 3];
    assert_eq!(config_error_key(&cfg), "state_weights");

    let mut cfg = base();
    cfg.terminal_weights = Some(vec![1.0; 5]);
    assert_eq!(config_error_key(&cfg), "terminal_weights");

    let mut cfg = base();
    cfg.input_weights = vec![];
    assert_eq!(config_error_key(&cfg), "input_weights");

    let mut cfg = base();
    cfg.input_min = Some(vec![-1.0, -1.0]);
    assert_eq!(config_error_key(&cfg), "input_min");

    let mut cfg = base();
    cfg.input_max = Some(vec![]);
    assert_eq!(config_error_key(&cfg), "input_max");

    assert_rejected("[fallback]\nsafe_input = [0.0, 0.0]", "fallback.safe_input");
    // The same file is fine for a robot of the right size.
    let cfg = base();
    assert!(matches!(
        cfg.to_spec::<3, 1>(),
        Err(MpcError::Config { key, .. }) if key == "state_weights"
    ));
}

#[test]
fn negative_weights_are_refused() {
    let mut cfg = base();
    cfg.state_weights[2] = -1e-2;
    assert_eq!(config_error_key(&cfg), "state_weights");

    let mut cfg = base();
    cfg.input_weights[0] = -1.0;
    assert_eq!(config_error_key(&cfg), "input_weights");

    let mut cfg = base();
    cfg.terminal_weights = Some(vec![1.0, 1.0, -1.0, 1.0]);
    assert_eq!(config_error_key(&cfg), "terminal_weights");

    let mut cfg = base();
    cfg.state_weights = vec![0.0; 4];
    cfg.input_weights = vec![0.0];
    assert_eq!(config_error_key(&cfg), "state_weights");
}

#[test]
fn nan_and_infinity_are_refused_where_a_number_is_expected() {
    let mut cfg = base();
    cfg.state_weights[0] = f64::NAN;
    assert_eq!(config_error_key(&cfg), "state_weights");

    let mut cfg = base();
    cfg.input_weights[0] = f64::INFINITY;
    assert_eq!(config_error_key(&cfg), "input_weights");

    let mut cfg = base();
    cfg.dt_secs = f64::NAN;
    assert_eq!(config_error_key(&cfg), "dt_secs");

    let mut cfg = base();
    cfg.period_secs = Some(f64::NAN);
    assert_eq!(config_error_key(&cfg), "period_secs");

    let mut cfg = base();
    cfg.input_min = Some(vec![f64::NAN]);
    assert_eq!(config_error_key(&cfg), "input_min");

    let mut cfg = base();
    cfg.input_max = Some(vec![f64::NAN]);
    assert_eq!(config_error_key(&cfg), "input_max");

    let mut cfg = base();
    cfg.fallback.safe_input = Some(vec![f64::NAN]);
    assert!(config_error_key(&cfg).starts_with("fallback.safe_input"));

    // TOML spells NaN `nan`.
    assert_rejected("[osqp]\nrho = nan", "osqp.rho");
    assert_rejected("[osqp]\nsigma = nan", "osqp.sigma");
    assert_rejected("[osqp]\neps_abs = nan", "osqp.eps_abs");
    assert_rejected("[osqp]\neps_rel = nan", "osqp.eps_rel");
    assert_rejected("[osqp]\ntime_limit_secs = nan", "osqp.time_limit_secs");
    assert_rejected(
        "[[state_bounds]]\nindex = 0\nmax = 1.0\nsoft = { l1 = nan, l2 = 1.0 }",
        "state_bounds[0].soft",
    );
}

#[test]
fn nan_state_bounds_are_refused() {
    for (min, max, key) in [
        (Some(f64::NAN), None, "state_bounds[0].min"),
        (None, Some(f64::NAN), "state_bounds[0].max"),
        (Some(f64::NAN), Some(1.0), "state_bounds[0].min"),
        (Some(-1.0), Some(f64::NAN), "state_bounds[0].max"),
        (Some(f64::INFINITY), None, "state_bounds[0].min"),
        (None, Some(f64::NEG_INFINITY), "state_bounds[0].max"),
    ] {
        let mut cfg = base();
        cfg.state_bounds = vec![StateBoundConfig {
            index: 0,
            min,
            max,
            soft: None,
        }];
        assert_eq!(config_error_key(&cfg), key, "min {min:?}, max {max:?}");
    }
}

#[test]
fn min_above_max_is_refused() {
    let mut cfg = base();
    cfg.input_min = Some(vec![1.0]);
    cfg.input_max = Some(vec![0.5]);
    assert_eq!(config_error_key(&cfg), "input_min[0]");

    // Bounds beyond reach of any input.
    let mut cfg = base();
    cfg.input_min = Some(vec![f64::INFINITY]);
    cfg.input_max = None;
    assert_eq!(config_error_key(&cfg), "input_min[0]");
    let mut cfg = base();
    cfg.input_min = None;
    cfg.input_max = Some(vec![f64::NEG_INFINITY]);
    assert_eq!(config_error_key(&cfg), "input_max[0]");

    assert_rejected(
        "[[state_bounds]]\nindex = 1\nmin = 2.0\nmax = 1.0",
        "state_bounds[0].min",
    );
}

#[test]
fn unknown_keys_are_refused_by_name() {
    // Unknown keys are a deserialisation error (serde's
    // `deny_unknown_fields`) rather than `MpcError::Config`: the crate
    // has no TOML reader of its own, and the scenario reader turns this
    // message into its error naming the file. Each level must refuse them.
    for (extra, key) in [
        ("horizon = 40", "horizon"),
        ("[osqp]\nrho_init = 0.1", "rho_init"),
        ("[fallback]\nsafe = [0.0]", "safe"),
        ("[[state_bounds]]\nindex = 0\nmaximum = 1.0", "maximum"),
        (
            "[[state_bounds]]\nindex = 0\nmax = 1.0\nsoft = { l1 = 1.0, l3 = 0.0 }",
            "l3",
        ),
    ] {
        let error = parse(extra).expect_err(extra).to_string();
        assert!(
            error.contains(&format!("unknown field `{key}`")),
            "`{extra}` gave: {error}"
        );
    }
}

#[test]
fn zero_counts_are_refused() {
    let mut cfg = base();
    cfg.horizon_steps = 0;
    assert_eq!(config_error_key(&cfg), "horizon_steps");

    let mut cfg = base();
    cfg.rk4_substeps = 0;
    assert_eq!(config_error_key(&cfg), "rk4_substeps");

    let mut cfg = base();
    cfg.sqp_iterations = 0;
    assert_eq!(config_error_key(&cfg), "sqp_iterations");

    let mut cfg = base();
    cfg.dt_secs = 0.0;
    assert_eq!(config_error_key(&cfg), "dt_secs");

    let mut cfg = base();
    cfg.period_secs = Some(-0.01);
    assert_eq!(config_error_key(&cfg), "period_secs");

    assert_rejected("[osqp]\nmax_iterations = 0", "osqp.max_iterations");
}

#[test]
fn safe_input_outside_the_bounds_is_refused() {
    assert_rejected("[fallback]\nsafe_input = [81.0]", "fallback.safe_input[0]");
    assert_rejected("[fallback]\nsafe_input = [-80.5]", "fallback.safe_input[0]");
    assert_rejected("[fallback]\nsafe_input = [inf]", "fallback.safe_input[0]");
    // The default safe input (zero) must lie within the bounds too.
    let mut cfg = base();
    cfg.input_min = Some(vec![1.0]);
    assert_eq!(config_error_key(&cfg), "fallback.safe_input[0]");
}

#[test]
fn soft_penalties_must_be_positive_somewhere() {
    let bound = |l1: f64, l2: f64| StateBoundConfig {
        index: 2,
        min: None,
        max: Some(1.0),
        soft: Some(SoftPenalty { l1, l2 }),
    };
    let mut cfg = base();
    cfg.state_bounds = vec![bound(1.0, 0.0), bound(0.0, 0.0)];
    assert_eq!(config_error_key(&cfg), "state_bounds[1].soft");

    cfg.state_bounds = vec![bound(-1.0, 2.0)];
    assert_eq!(config_error_key(&cfg), "state_bounds[0].soft");

    cfg.state_bounds = vec![bound(1.0, f64::INFINITY)];
    assert_eq!(config_error_key(&cfg), "state_bounds[0].soft");

    cfg.state_bounds = vec![bound(0.0, 1.0)];
    cfg.to_spec::<4, 1>().expect("an L2-only penalty is valid");
}

#[test]
fn state_bound_shapes_are_checked() {
    assert_rejected(
        "[[state_bounds]]\nindex = 4\nmax = 1.0",
        "state_bounds[0].index",
    );
    assert_rejected("[[state_bounds]]\nindex = 0", "state_bounds[0]");
}

#[test]
fn osqp_settings_out_of_range_are_refused() {
    for alpha in ["0.0", "2.0", "-1.0", "2.5", "nan", "inf"] {
        assert_rejected(&format!("[osqp]\nalpha = {alpha}"), "osqp.alpha");
    }
    assert_rejected("[osqp]\nrho = 0.0", "osqp.rho");
    assert_rejected("[osqp]\nsigma = -1e-6", "osqp.sigma");
    assert_rejected("[osqp]\neps_abs = 0.0", "osqp.eps_abs");
    assert_rejected("[osqp]\neps_rel = -1e-3", "osqp.eps_rel");
    assert_rejected("[osqp]\ntime_limit_secs = 0.0", "osqp.time_limit_secs");
    // In range: accepted.
    parse("[osqp]\nalpha = 1.0\neps_rel = 0.0")
        .unwrap()
        .to_spec::<4, 1>()
        .expect("valid OSQP settings");
}

#[test]
fn default_osqp_settings_do_not_depend_on_wall_clock_time() {
    // With adaptive rho on, an interval of 0 lets OSQP (built with
    // profiling) pick it from measured times: runs would not repeat.
    let osqp = base().osqp;
    assert!(!osqp.adaptive_rho || osqp.adaptive_rho_interval > 0);
}

/// `[controller.qp]`: absent is `auto`; `auto` keeps the sizes of every
/// scenario in configs/ fully condensed (the crossovers measured in
/// docs/performance.md) and cuts longer horizons into blocks; bad values
/// name the key.
#[test]
fn the_qp_structure_is_read_checked_and_chosen_by_size() {
    use recede_mpc::{Condensing, QpConfig};
    let base = common::P1_TOML;
    let absent: MpcConfig = toml::from_str(base).unwrap();
    assert_eq!(absent.qp, QpConfig::default());
    assert_eq!(absent.qp.condensing, Condensing::Auto);
    let given: MpcConfig = toml::from_str(&format!(
        "{base}\n[qp]\ncondensing = \"partial\"\nblock = 5\n"
    ))
    .unwrap();
    assert_eq!(
        given.qp,
        QpConfig {
            condensing: Condensing::Partial,
            block: Some(5),
            ..Default::default()
        }
    );
    assert_eq!(given.qp.stages_per_block(40, 4, 1), 5);
    let zero: MpcConfig = toml::from_str(&format!("{base}\n[qp]\nblock = 0\n")).unwrap();
    let err = zero.to_spec::<4, 1>().unwrap_err().to_string();
    assert!(err.contains("qp.block"), "{err}");
    assert!(
        toml::from_str::<MpcConfig>(&format!("{base}\n[qp]\ncondensing = \"some\"\n")).is_err()
    );

    let auto = QpConfig::default();
    // P1 (NX 4, NU 1) and P2 (NX 13, NU 4) at the benchmark's horizons:
    // fully condensed; the cart-pole, diff-drive and quadrotor scenarios too.
    assert_eq!(auto.stages_per_block(40, 4, 1), 40);
    assert_eq!(auto.stages_per_block(20, 13, 4), 20);
    assert_eq!(auto.stages_per_block(25, 5, 2), 25);
    assert_eq!(auto.stages_per_block(15, 13, 4), 15);
    // Longer: blocks of 16 input variables.
    assert_eq!(auto.stages_per_block(80, 4, 1), 16);
    assert_eq!(auto.stages_per_block(40, 13, 4), 4);
    let none = QpConfig {
        condensing: Condensing::None,
        block: None,
        ..Default::default()
    };
    assert_eq!(none.stages_per_block(40, 4, 1), 1);
}

/// `[controller.qp] solver`: OSQP when absent, the dense backend by name,
/// anything else an error naming the key; the dense backend has no Ruiz
/// scaling, so asking for scaling (or blocks, which scale by default)
/// with it is an error naming `qp.solver`.
#[test]
fn the_qp_solver_key() {
    use recede_mpc::QpSolver;
    assert_eq!(base().qp.solver, QpSolver::Osqp);
    let dense = parse("[qp]\nsolver = \"dense\"").unwrap();
    assert_eq!(dense.qp.solver, QpSolver::Dense);
    assert!(dense.to_spec::<4, 1>().is_ok());
    let err = parse("[qp]\nsolver = \"qdldl\"").unwrap_err().to_string();
    assert!(err.contains("osqp") && err.contains("dense"), "{err}");
    assert_rejected(
        "[qp]\nsolver = \"dense\"\n[osqp]\nscaling_iterations = 3",
        "qp.solver",
    );
    assert_rejected(
        "[qp]\nsolver = \"dense\"\ncondensing = \"partial\"",
        "qp.solver",
    );
    let unscaled_blocks =
        parse("[qp]\nsolver = \"dense\"\ncondensing = \"partial\"\n[osqp]\nscaling_iterations = 0")
            .unwrap();
    assert!(unscaled_blocks.to_spec::<4, 1>().is_ok());
}

#[test]
fn the_integrator_is_rk4_unless_chosen() {
    use recede_model::IntegratorKind;
    assert_eq!(base().integrator, IntegratorKind::Rk4);
    let cfg = parse("integrator = \"implicit_midpoint\"").unwrap();
    assert_eq!(cfg.integrator, IntegratorKind::ImplicitMidpoint);
    cfg.to_spec::<4, 1>().expect("valid");
    // Substeps are RK4's: refused with the implicit rule rather than ignored.
    let mut cfg = cfg;
    cfg.rk4_substeps = 2;
    assert_eq!(config_error_key(&cfg), "rk4_substeps");
    let e = parse("integrator = \"euler\"").unwrap_err().to_string();
    assert!(e.contains("implicit_midpoint"), "{e}");
}

/// `[controller.qp] polish`: off when absent, on with the dense solver,
/// an error naming `qp.polish` with OSQP (the step is the dense solver's).
#[test]
fn the_qp_polish_key() {
    assert!(!base().qp.polish);
    let on = parse("[qp]\nsolver = \"dense\"\npolish = true").unwrap();
    assert!(on.qp.polish && on.to_spec::<4, 1>().is_ok());
    assert_rejected("[qp]\npolish = true", "qp.polish");
}

/// The Riccati active set solves OCPs whose only inequalities are input
/// bounds and soft state bounds: hard state bounds are refused, and so is
/// full condensing (its fallback is OSQP on blocks).
#[test]
fn the_riccati_solver_is_refused_where_it_does_not_apply() {
    assert!(parse("[qp]\nsolver = \"riccati\"")
        .unwrap()
        .to_spec::<4, 1>()
        .is_ok());
    assert_rejected(
        "[[state_bounds]]\nindex = 0\nmax = 1.0\n[qp]\nsolver = \"riccati\"",
        "qp.solver",
    );
    assert!(parse(
        "[[state_bounds]]\nindex = 0\nmax = 1.0\nsoft = { l1 = 1.0, l2 = 1.0 }\n\
         [qp]\nsolver = \"riccati\""
    )
    .unwrap()
    .to_spec::<4, 1>()
    .is_ok());
    assert_rejected(
        "[qp]\nsolver = \"riccati\"\ncondensing = \"full\"",
        "qp.condensing",
    );
}

/// `initial_guess`: absent is the measured state everywhere (what every
/// file meant before the key), `"reference"` reaches the spec, anything
/// else is refused by name; the default is not written back out.
#[test]
fn the_initial_guess_parses_and_defaults_to_the_measured_state() {
    assert_eq!(base().initial_guess, InitialGuess::Measured);
    let spec = parse("initial_guess = \"reference\"")
        .expect("parses")
        .to_spec::<4, 1>()
        .expect("valid");
    assert_eq!(spec.initial_guess, InitialGuess::Reference);
    let err = parse("initial_guess = \"zero\"").expect_err("refused");
    assert!(err.to_string().contains("zero"), "{err}");
    let written = toml::to_string(&base()).expect("serialises");
    assert!(!written.contains("initial_guess"), "{written}");
}

//! Tests of the tuner core with injected evaluation functions (no
//! simulations), and of the tuning file's checks.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::results::{self, Set};
use crate::search::{Evaluation, History, Search, Shard};
use crate::spec::{Parameter, Scale, Tune};
use crate::{drive, header_of, merge};

fn params() -> Vec<Parameter> {
    let p = |name: &str, min: f64, max: f64, scale, integer, start| Parameter {
        name: name.into(),
        keys: vec![crate::keypath::KeyPath::parse(name).unwrap()],
        min,
        max,
        scale,
        integer,
        start,
    };
    vec![
        p(
            "controller.state_weights[0]",
            1e-2,
            1e4,
            Scale::Log,
            false,
            1e-2,
        ),
        p(
            "controller.input_weights[0]",
            0.0,
            10.0,
            Scale::Linear,
            false,
            9.0,
        ),
        p(
            "controller.horizon_steps",
            5.0,
            60.0,
            Scale::Linear,
            true,
            10.0,
        ),
    ]
}

/// A smooth bowl in the unit cube with its minimum at (0.7, 0.2, 0.5).
fn bowl(params: &[Parameter], values: &[f64]) -> f64 {
    let target = [0.7, 0.2, 0.5];
    params
        .iter()
        .zip(values)
        .zip(target)
        .map(|((p, v), t)| (p.to_unit(*v) - t).powi(2))
        .sum::<f64>()
        + 0.01
}

fn search(evaluations: usize, seed: u64) -> Search {
    Search {
        parameters: params(),
        start: params().iter().map(|p| p.start).collect(),
        compare: Some(vec![100.0, 2.0, 30.0]),
        sigma: 0.3,
        population: 6,
        seed,
        evaluations,
        heldout_top: 2,
    }
}

fn eval_bowl(values: &[f64], set: Set) -> Result<Evaluation> {
    let f = bowl(&params(), values);
    Ok(Evaluation {
        objective: if set == Set::Heldout { f * 1.1 } else { f },
        failure: None,
        runs: Vec::new(),
    })
}

fn quiet(_: &results::EvalRecord) {}

/// (set, label, values, objective) of every record, in a fixed order.
fn summary(h: &History) -> Vec<(Set, String, Vec<u64>, Option<u64>)> {
    h.records
        .values()
        .map(|r| {
            (
                r.set,
                r.label.clone(),
                r.values.iter().map(|v| v.to_bits()).collect(),
                r.objective.map(f64::to_bits),
            )
        })
        .collect()
}

fn run_to(s: &Search, path: &Path, jobs: usize) -> History {
    drive(
        s,
        &header_of(s, "tune text"),
        &eval_bowl,
        Some(path),
        &[],
        None,
        jobs,
        &quiet,
    )
    .unwrap()
    .0
}

#[test]
fn same_seed_same_result_and_the_search_improves() {
    let dir = tempfile::tempdir().unwrap();
    let s = search(60, 7);
    let a = run_to(&s, &dir.path().join("a.jsonl"), 2);
    let b = run_to(&s, &dir.path().join("b.jsonl"), 1);
    assert_eq!(
        summary(&a),
        summary(&b),
        "thread count must not change results"
    );
    assert_eq!(a.candidates().len(), 60);
    let start = a.get(Set::Train, "start").unwrap().cost();
    let best = a.ranked()[0].cost();
    assert!(best < 0.2 * start, "best {best} vs start {start}");
    // Held-out: start, compare and the top 2 only.
    let held: Vec<&str> = a
        .records
        .values()
        .filter(|r| r.set == Set::Heldout)
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(held.len(), 4, "{held:?}");
    assert!(held.contains(&a.ranked()[0].label.as_str()));
    let c = run_to(&search(60, 8), &dir.path().join("c.jsonl"), 2);
    assert_ne!(
        summary(&a),
        summary(&c),
        "another seed samples other candidates"
    );
}

#[test]
fn resume_after_a_kill_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let s = search(48, 3);
    let full_path = dir.path().join("full.jsonl");
    let full = run_to(&s, &full_path, 2);
    let text = std::fs::read(&full_path).unwrap();
    for cut in [0.15, 0.5, 0.83] {
        // A kill mid-line: keep a prefix that ends inside a record.
        let mut n = (text.len() as f64 * cut) as usize;
        while text[n - 1] == b'\n' {
            n += 1;
        }
        let killed = dir.path().join(format!("killed{cut}.jsonl"));
        std::fs::write(&killed, &text[..n]).unwrap();
        let before = results::read(&killed).unwrap().records.len();
        assert!(before < full.records.len());
        let resumed = run_to(&s, &killed, 2);
        assert_eq!(summary(&resumed), summary(&full), "cut at {cut}");
        // The file itself is whole again: it reads back to the same history.
        let back = History::from_records(results::read(&killed).unwrap().records);
        assert_eq!(summary(&back), summary(&full));
    }
    // A larger budget continues the same search: its first 48 candidates
    // are those of the shorter run.
    let longer = run_to(&search(60, 3), &full_path, 2);
    for r in full.candidates() {
        assert_eq!(
            longer.get(Set::Train, &r.label).map(|l| &l.values),
            Some(&r.values)
        );
    }
}

#[test]
fn results_of_another_tune_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    run_to(&search(12, 1), &path, 1);
    let other = search(12, 2);
    let e = drive(
        &other,
        &header_of(&other, "tune text"),
        &eval_bowl,
        Some(&path),
        &[],
        None,
        1,
        &quiet,
    )
    .unwrap_err();
    assert!(e.to_string().contains("another tune"), "{e}");
}

#[test]
fn shards_then_merge_equal_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = search(40, 11);
    let header = header_of(&s, "tune text");
    let full = run_to(&s, &dir.path().join("full.jsonl"), 2);

    let merged = dir.path().join("merged.jsonl");
    let shards = 3;
    for round in 0..s.generations() {
        let mut files = Vec::new();
        for k in 0..shards {
            let f = dir.path().join(format!("round{round}-shard{k}.jsonl"));
            let from: Vec<PathBuf> = if merged.exists() {
                vec![merged.clone()]
            } else {
                vec![]
            };
            let shard = Some(Shard {
                index: k,
                count: shards,
            });
            let (_, made) =
                drive(&s, &header, &eval_bowl, Some(&f), &from, shard, 1, &quiet).unwrap();
            assert!(
                made <= s.population.div_ceil(shards),
                "shard {k} made {made}"
            );
            files.push(f);
        }
        if merged.exists() {
            files.push(merged.clone());
        }
        merge(&merged, &files).unwrap();
    }
    let c = results::read(&merged).unwrap();
    assert_eq!(
        c.records.len(),
        40,
        "all search candidates, nothing else yet"
    );
    // The final, unsharded call adds start/compare and the held-out runs.
    let (finished, _) =
        drive(&s, &header, &eval_bowl, Some(&merged), &[], None, 2, &quiet).unwrap();
    assert_eq!(summary(&finished), summary(&full));
}

#[test]
fn failing_and_panicking_candidates_are_recorded_and_the_tune_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = search(36, 5);
    let eval = |values: &[f64], set: Set| -> Result<Evaluation> {
        let u = params()[1].to_unit(values[1]);
        if u > 0.85 {
            panic!("injected panic at input weight {}", values[1]);
        }
        if u < 0.1 {
            return Ok(Evaluation {
                objective: f64::INFINITY,
                failure: Some("diverged: injected".into()),
                runs: Vec::new(),
            });
        }
        eval_bowl(values, set)
    };
    // The start point (u = 0.9) panics: it is recorded as failed too.
    let path = dir.path().join("r.jsonl");
    let (h, _) = drive(
        &s,
        &header_of(&s, "tune text"),
        &eval,
        Some(&path),
        &[],
        None,
        2,
        &quiet,
    )
    .unwrap();
    assert_eq!(h.candidates().len(), 36, "every candidate evaluated");
    let start = h.get(Set::Train, "start").unwrap();
    assert!(start.objective.is_none());
    assert!(
        start.failure.as_deref().unwrap().contains("injected panic"),
        "{start:?}"
    );
    let failed: Vec<_> = h
        .candidates()
        .into_iter()
        .filter(|r| r.objective.is_none())
        .collect();
    assert!(
        !failed.is_empty(),
        "some candidates should have hit the failing regions"
    );
    assert!(h.ranked()[0].objective.is_some(), "a finite best exists");
    // Failures survive the file (null objective = infinite cost).
    let back = History::from_records(results::read(&path).unwrap().records);
    assert_eq!(summary(&back), summary(&h));
}

#[test]
fn an_evaluation_error_stops_the_tune() {
    let s = search(12, 5);
    let eval = |_: &[f64], _: Set| -> Result<Evaluation> {
        anyhow::bail!("`objective.weights`: the run summary has no nope")
    };
    let e = drive(&s, &header_of(&s, "t"), &eval, None, &[], None, 1, &quiet).unwrap_err();
    assert!(format!("{e:#}").contains("has no nope"), "{e:#}");
}

#[test]
fn shard_and_unit_mappings() {
    assert_eq!(
        "1/4".parse::<Shard>().unwrap(),
        Shard { index: 1, count: 4 }
    );
    for bad in ["4/4", "1", "a/2", "0/0"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    let p = params();
    for (q, v) in p.iter().zip([1.0, 5.0, 33.0]) {
        assert!((q.from_unit(q.to_unit(v)) - v).abs() < 1e-9 * v.abs().max(1.0));
    }
    assert_eq!(p[2].from_unit(0.123), (5.0f64 + 0.123 * 55.0).round());
    assert_eq!(crate::search::mirror(1.25), 0.75);
    assert_eq!(crate::search::mirror(-0.25), 0.25);
}

// ---- the tuning file ----

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

const GOOD: &str = r#"
[[parameters]]
key = "controller.state_weights[0]"
range = [1e-2, 1e4]
scale = "log"

[[parameters]]
key = ["controller.state_weights[2]", "controller.state_weights[3]"]
name = "velocity weights"
range = [1e-3, 10.0]
scale = "log"

[[parameters]]
key = "controller.horizon_steps"
range = [10, 60]
integer = true

[[scenarios]]
path = "cartpole.toml"
seeds = [1, 2]
set = { "scenario.duration_secs" = 1.0 }
randomize = [{ key = "scenario.initial_state[1]", range = [2.9, 3.3] }]

[heldout]
seeds = [100]

[objective]
weights = { "state_rmse[1]" = 1.0, control_effort = 1e-4 }
"#;

fn parse(text: &str) -> Result<Tune> {
    Tune::parse(text, &configs().join("tune_test.toml"))
}

#[test]
fn a_good_tuning_file_parses() {
    let t = parse(GOOD).unwrap();
    assert_eq!(t.parameters.len(), 3);
    assert_eq!(t.parameters[0].scale, Scale::Log);
    assert_eq!(t.parameters[0].start, 1e3, "start read from the scenario");
    assert_eq!(t.parameters[1].keys.len(), 2);
    assert!(t.parameters[2].integer);
    assert_eq!(t.heldout.len(), 1);
    assert_eq!(t.heldout[0].seeds, vec![100]);
    // Seeds randomise the initial angle within its range, reproducibly.
    let a = t.scenario(&t.train[0], &t.start(), 1).unwrap();
    let b = t.scenario(&t.train[0], &t.start(), 2).unwrap();
    let a2 = t.scenario(&t.train[0], &t.start(), 1).unwrap();
    let th = |s: &recede_runner::scenario::Scenario| s.file.scenario.initial_state[1];
    assert_ne!(th(&a), th(&b));
    assert_eq!(th(&a), th(&a2));
    assert!((2.9..=3.3).contains(&th(&a)));
    assert_eq!(a.file.scenario.duration_secs, 1.0);
    assert_eq!(a.file.scenario.seed, 1);
    // The best file is the scenario as written with the values applied.
    let text = t.best_file_text(&[5.0, 0.5, 25.0]).unwrap();
    assert!(text.contains("# Cart-pole swing-up"), "comments kept");
    let s = recede_runner::scenario::Scenario::parse(&text, Path::new("best.toml")).unwrap();
    let c: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(c["controller"]["state_weights"][0].as_float(), Some(5.0));
    assert_eq!(c["controller"]["state_weights"][3].as_float(), Some(0.5));
    assert_eq!(c["controller"]["horizon_steps"].as_integer(), Some(25));
    assert_eq!(
        s.file.scenario.duration_secs, 4.0,
        "tune-only overrides are not written"
    );
}

fn err(text: &str) -> String {
    format!("{:#}", parse(text).unwrap_err())
}

#[test]
fn bad_ranges_and_scales_are_errors_naming_the_key() {
    let log0 = GOOD.replacen("range = [1e-2, 1e4]", "range = [0.0, 1e4]", 1);
    let e = err(&log0);
    assert!(
        e.contains("parameters[0].range") && e.contains("log"),
        "{e}"
    );
    let neg = GOOD.replacen("range = [1e-3, 10.0]", "range = [-1.0, 10.0]", 1);
    assert!(err(&neg).contains("parameters[1].range"), "{}", err(&neg));
    let flipped = GOOD.replacen("range = [1e-2, 1e4]", "range = [1e4, 1e-2]", 1);
    assert!(err(&flipped).contains("min < max"), "{}", err(&flipped));
    let scale = GOOD.replacen("scale = \"log\"", "scale = \"cubic\"", 1);
    assert!(err(&scale).contains("cubic"), "{}", err(&scale));
    let unknown = GOOD.replacen("scale = \"log\"", "scale = \"log\"\nstep = 2", 1);
    assert!(err(&unknown).contains("step"), "{}", err(&unknown));
    let out = GOOD.replacen("range = [1e-2, 1e4]", "range = [1e-2, 1e2]", 1);
    assert!(err(&out).contains("parameters[0].start"), "{}", err(&out));
    let not_int = GOOD.replacen("integer = true", "", 1);
    assert!(err(&not_int).contains("horizon_steps"), "{}", err(&not_int));
    let frac = GOOD.replacen("range = [10, 60]", "range = [10.5, 60]", 1);
    assert!(err(&frac).contains("whole bounds"), "{}", err(&frac));
    let badkey = GOOD.replacen(
        "controller.state_weights[0]",
        "controller.state_wieghts[0]",
        1,
    );
    assert!(err(&badkey).contains("state_wieghts"), "{}", err(&badkey));
    let badpath = GOOD.replacen("controller.state_weights[0]", "controller..x", 1);
    assert!(
        err(&badpath).contains("parameters[0].key"),
        "{}",
        err(&badpath)
    );
    let rlog = GOOD.replacen(
        "range = [2.9, 3.3] }",
        "range = [-1.0, 3.3], scale = \"log\" }",
        1,
    );
    assert!(
        err(&rlog).contains("scenarios[0].randomize[0].range"),
        "{}",
        err(&rlog)
    );
    let noseeds = GOOD.replacen("seeds = [1, 2]", "seeds = []", 1);
    assert!(
        err(&noseeds).contains("scenarios[0].seeds"),
        "{}",
        err(&noseeds)
    );
    let missing = GOOD.replacen("cartpole.toml", "nope.toml", 1);
    assert!(err(&missing).contains("nope.toml"), "{}", err(&missing));
}

#[test]
fn a_missing_metric_is_an_error_naming_it_and_failures_are_detected() {
    let t = parse(&GOOD.replacen(
        "control_effort = 1e-4",
        "control_effort = 1e-4, \"step_us.p42\" = 1.0",
        1,
    ))
    .unwrap();
    let summary = serde_json::json!({
        "state_rmse": [0.1, 0.2], "control_effort": 3.0, "step_us": {"p99": 1.0},
        "goal_reached": true, "final_state": [0.0, 0.0],
    });
    let e = t.cost(&summary).unwrap_err().to_string();
    assert!(e.contains("step_us.p42"), "{e}");
    let t = parse(GOOD).unwrap();
    assert!((t.cost(&summary).unwrap().unwrap() - (0.2 + 3e-4)).abs() < 1e-12);
    let mut nan = summary.clone();
    nan["final_state"] = serde_json::json!([null, 0.0]);
    assert!(t.cost(&nan).unwrap().unwrap_err().contains("diverged"));
    let mut hit = summary.clone();
    hit["min_clearance_m"] = serde_json::json!(-0.01);
    assert!(t.cost(&hit).unwrap().unwrap_err().contains("collision"));
    let goal = parse(&GOOD.replacen(
        "[objective]",
        "[objective]\nfail_if_goal_not_reached = true",
        1,
    ))
    .unwrap();
    let mut missed = summary.clone();
    missed["goal_reached"] = serde_json::json!(false);
    assert!(goal.cost(&missed).unwrap().unwrap_err().contains("goal"));
    assert!(t.cost(&missed).unwrap().is_ok());
}

#[test]
fn a_short_real_tune_writes_a_usable_scenario_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let tune_path = configs().join("tune_test_e2e.toml");
    let text = GOOD.replacen("seeds = [1, 2]", "seeds = [1]", 1).replacen(
        "\"scenario.duration_secs\" = 1.0",
        "\"scenario.duration_secs\" = 0.3",
        1,
    );
    // The tuning file must sit beside the scenario it names.
    let tune_file = dir.path().join("tune.toml");
    std::fs::write(
        &tune_file,
        text.replace(
            "path = \"cartpole.toml\"",
            &format!("path = {:?}", configs().join("cartpole.toml")),
        ),
    )
    .unwrap();
    let _ = tune_path;
    let report = crate::tune(&crate::TuneOptions {
        file: tune_file,
        evaluations: 3,
        jobs: Some(2),
        seed: 1,
        resume: false,
        shard: None,
        out_dir: Some(dir.path().join("out")),
        results: None,
        from: Vec::new(),
        progress: false,
    })
    .unwrap();
    assert_eq!(report.evaluations, 3);
    assert!(report.default_objective.is_some() && report.heldout_default.is_some());
    let best = report.best_file.as_ref().unwrap();
    recede_runner::scenario::Scenario::load(Path::new(best)).unwrap();
    let svg = std::fs::read_to_string(report.plot_file.as_ref().unwrap()).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("circle"));
    assert!(report.table.contains("held-out"));
    let lines = results::read(&dir.path().join("out/results.jsonl")).unwrap();
    assert!(lines.records.iter().all(|r| r
        .runs
        .iter()
        .all(|run| run.metrics.contains_key("state_rmse[1]"))));
}

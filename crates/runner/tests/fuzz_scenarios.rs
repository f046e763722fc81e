//! Property-based mutation of every scenario in configs/: lines deleted or
//! duplicated, numbers replaced by extremes (0, -1, 1e308, NaN, ...),
//! strings replaced by huge or hostile ones. Each mutant goes through the
//! code of `recede check` (`Scenario::parse`) and, when accepted, of
//! `recede run` (`run_with`, lockstep, a short duration). The promise:
//! never a panic (on any thread), never a hang, and every error names the
//! scenario file (the CLI then exits 2; a run exits 0 or 1).
//!
//! `RECEDE_FUZZ_CASES` sets the number of cases (default 200), e.g.
//! `RECEDE_FUZZ_CASES=10000 cargo test --release -p recede-runner --test fuzz_scenarios`.
//! Its own test binary: the panic hook it installs sees every thread.
//! A failing mutant is written to the temporary directory and named.
//! `RECEDE_FUZZ_SURVEY=1` runs every case instead of stopping (and
//! shrinking) at the first failure, then lists them all.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, Once};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;

/// Simulated seconds each accepted mutant runs.
const RUN_SECS: f64 = 0.2;
/// A case still running after this long is a hang (a guard against a stuck
/// test, not a speed requirement: a case takes well under a second).
const HANG_GUARD: Duration = Duration::from_secs(300);

/// The workspace's root, where configs/ and tests/data/ are.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();
static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Panics on any thread (the loop's tasks included) are recorded.
fn record_panics() {
    HOOK.call_once(|| {
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut p) = PANICS.lock() {
                p.push(info.to_string());
            }
            print(info);
        }));
    });
}

fn scenarios() -> Vec<(PathBuf, String)> {
    let dir = workspace_root().join("configs");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            // Tuning and residual files are not scenarios.
            Scenario::parse(&text, &p).ok().map(|_| (p, text))
        })
        .collect();
    out.sort();
    out
}

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "1e-308",
    "0.0",
    "4294967296",
    "18446744073709551615",
    "100000",
    "3",
];

fn strings() -> Vec<String> {
    vec![
        String::new(),
        "../../escape".into(),
        "/".into(),
        "x".repeat(100_000),
        "é\u{0}\u{202e}".into(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Number {
        line: usize,
        nth: usize,
        value: &'static str,
    },
    Text {
        line: usize,
        nth: usize,
        value: String,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let n = any::<usize>;
    prop_oneof![
        1 => n().prop_map(Edit::Delete),
        1 => n().prop_map(Edit::Duplicate),
        3 => (n(), n(), prop::sample::select(NUMBERS)).prop_map(|(line, nth, value)| {
            Edit::Number { line, nth, value }
        }),
        1 => (n(), n(), prop::sample::select(strings())).prop_map(|(line, nth, value)| {
            Edit::Text { line, nth, value }
        }),
    ]
}

/// Byte ranges of the numbers in a line (not inside words or strings).
fn numbers(line: &str) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let (mut out, mut i, mut quoted) = (Vec::new(), 0, false);
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            quoted = !quoted;
        }
        let starts = !quoted
            && (c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if starts {
            let s = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit() || matches!(b[i], b'.' | b'e' | b'E' | b'_'))
                || (i < b.len() && matches!(b[i], b'-' | b'+') && matches!(b[i - 1], b'e' | b'E'))
            {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the string literals' contents in a line.
fn strings_in(line: &str) -> Vec<(usize, usize)> {
    let quotes: Vec<usize> = line.match_indices('"').map(|(i, _)| i).collect();
    quotes.chunks_exact(2).map(|q| (q[0] + 1, q[1])).collect()
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Number { line, nth, value } => {
                // The nth number of the first line from `line` that has one.
                if let Some(k) = (0..n)
                    .map(|k| (line % n + k) % n)
                    .find(|k| !numbers(&lines[*k]).is_empty())
                {
                    let spans = numbers(&lines[k]);
                    let (s, t) = spans[nth % spans.len()];
                    lines[k].replace_range(s..t, value);
                }
            }
            Edit::Text { line, nth, value } => {
                if let Some(k) = (0..n)
                    .map(|k| (line % n + k) % n)
                    .find(|k| !strings_in(&lines[*k]).is_empty())
                {
                    let spans = strings_in(&lines[k]);
                    let (s, t) = spans[nth % spans.len()];
                    lines[k].replace_range(s..t, value);
                }
            }
        }
    }
    lines.join("\n")
}

/// Runs one mutant as `check` then `run` would; `Err` describes a broken
/// promise.
fn exercise(path: PathBuf, text: String) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let outcome = match Scenario::parse(&text, &p) {
            Err(e) => Err(format!("{e:#}")),
            Ok(s) => {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                let options = RunOptions {
                    duration_secs: Some(RUN_SECS.min(s.file.scenario.duration_secs)),
                    ..RunOptions::default()
                };
                run_with(&s, &options, None)
                    .map(|_| ())
                    .map_err(|e| format!("{e:#}"))
            }
        };
        let _ = tx.send(outcome);
    });
    let name = path.display().to_string();
    match rx.recv_timeout(HANG_GUARD) {
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("still running after {HANG_GUARD:?}")),
        // The thread ended without an answer: it panicked.
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the case panicked".into()),
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) if message.contains(&name) => Ok(()),
        Ok(Err(message)) => Err(format!("the error does not name {name}: {message}")),
    }
}

#[test]
fn mutated_scenarios_never_panic_hang_or_lose_the_file_name() {
    record_panics();
    let cases: u32 = std::env::var("RECEDE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let survey = std::env::var_os("RECEDE_FUZZ_SURVEY").is_some();
    let files = scenarios();
    assert!(files.len() >= 6, "{files:?}");
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = (0..files.len(), prop::collection::vec(edit(), 1..=3));
    let result = runner.run(&strategy, |(f, edits)| {
        let (path, original) = &files[f];
        let text = apply(original, &edits);
        let before = PANICS.lock().map(|p| p.len()).unwrap_or(0);
        let verdict = exercise(path.clone(), text.clone());
        let panics: Vec<String> = PANICS
            .lock()
            .map(|p| p[before..].to_vec())
            .unwrap_or_default();
        let verdict = match (verdict, panics.is_empty()) {
            (Ok(()), true) => Ok(()),
            (Ok(()), false) => Err(format!("panicked: {panics:?}")),
            (Err(e), _) => Err(format!("{e}; panics: {panics:?}")),
        };
        let verdict = verdict.map_err(|e| {
            let file = std::env::temp_dir().join(format!(
                "recede-fuzz-{}-{:016x}.toml",
                path.file_stem().unwrap().to_string_lossy(),
                fxhash(&text)
            ));
            let _ = std::fs::write(&file, &text);
            TestCaseError::fail(format!(
                "{}: {e} (mutant written to {})",
                path.display(),
                file.display()
            ))
        });
        match verdict {
            Err(e) if survey => {
                if let Ok(mut f) = FAILURES.lock() {
                    f.push(e.to_string());
                }
                Ok(())
            }
            v => v,
        }
    });
    if let Ok(f) = FAILURES.lock() {
        assert!(
            f.is_empty(),
            "{} of {cases} cases failed:\n{}",
            f.len(),
            f.join("\n")
        );
    }
    eprintln!(
        "{cases} cases, {} accepted by check and run",
        ACCEPTED.load(Ordering::Relaxed)
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Mutants that load must not be rare, or the runs prove little.
    assert!(ACCEPTED.load(Ordering::Relaxed) * 10 >= cases as usize);
}

/// A stable name for a mutant's file.
fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The mutants earlier fuzzing found panicking (inside OSQP, before its
/// errors became statuses) stay in the suite: each goes through `check`
/// and `run` as if it were the configs/ file it came from (so that model
/// files resolve), with no panic and no hang.
#[test]
fn the_mutants_fuzzing_found_never_panic() {
    record_panics();
    let dir = workspace_root().join("tests/data/fuzz_found");
    let mut mutants: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/fuzz_found")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    mutants.sort();
    assert!(mutants.len() >= 7, "{mutants:?}");
    for mutant in mutants {
        let name = mutant.file_stem().unwrap().to_string_lossy().into_owned();
        // recede-fuzz-<scenario>-<hash>
        let scenario = name
            .strip_prefix("recede-fuzz-")
            .and_then(|s| s.rsplit_once('-'))
            .map(|(s, _)| s.to_owned())
            .expect("a mutant's name");
        let path = workspace_root()
            .join("configs")
            .join(format!("{scenario}.toml"));
        let text = std::fs::read_to_string(&mutant).unwrap();
        let before = PANICS.lock().map(|p| p.len()).unwrap_or(0);
        let verdict = exercise(path, text);
        let panics: Vec<String> = PANICS
            .lock()
            .map(|p| p[before..].to_vec())
            .unwrap_or_default();
        assert!(
            verdict.is_ok() && panics.is_empty(),
            "{}: {verdict:?}, panics {panics:?}",
            mutant.display()
        );
    }
}

//! `recede tune`: search a scenario's parameters (MPC weights, horizon,
//! penalties, solver tolerances, anything with a key in the scenario file)
//! with CMA-ES across scenarios and seeds, held-out seeds for the best
//! candidates, a report, and sharding for batch schedulers.
//! See docs/tuning.md.

pub mod eval;
pub use recede_runner::scenario::keypath;
pub mod report;
pub mod results;
pub mod search;
pub mod shard_env;
pub mod spec;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use results::{EvalRecord, Header, ResultsLog, Set};
use search::{Evaluate, History, Search, Shard};
use spec::Tune;

/// The command line's choices.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    pub file: PathBuf,
    pub evaluations: usize,
    /// Threads evaluating candidates; all cores when absent.
    pub jobs: Option<usize>,
    pub seed: u64,
    pub resume: bool,
    pub shard: Option<Shard>,
    /// Where the results, best scenario and plot go.
    pub out_dir: Option<PathBuf>,
    /// The results file; `<out>/results.jsonl` when absent.
    pub results: Option<PathBuf>,
    /// Results of earlier generations (merged shards) a shard continues from.
    pub from: Vec<PathBuf>,
    /// Progress bar on stderr.
    pub progress: bool,
}

/// What `recede tune` prints as JSON at the end.
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    /// Search candidates in the results (the budget, when complete).
    pub evaluations: usize,
    /// Evaluations made by this invocation (search, start/compare, held-out).
    pub evaluated_now: usize,
    /// Search candidates evaluated in this invocation per wall-clock second
    /// of its search.
    pub evals_per_sec: f64,
    /// Closed-loop runs per wall-clock second in this invocation.
    pub runs_per_sec: f64,
    pub jobs: usize,
    pub wall_secs: f64,
    pub failed: usize,
    /// Training objective of the starting parameters.
    pub default_objective: Option<f64>,
    pub best_objective: Option<f64>,
    pub compare_objective: Option<f64>,
    pub heldout_default: Option<f64>,
    pub heldout_best: Option<f64>,
    pub heldout_compare: Option<f64>,
    /// 1 - heldout_best / heldout_default.
    pub heldout_improvement: Option<f64>,
    pub best_label: Option<String>,
    pub best_parameters: BTreeMap<String, f64>,
    pub best_file: Option<String>,
    pub plot_file: Option<String>,
    pub results_file: String,
    /// False for a shard, or a tune that stopped before its budget.
    pub complete: bool,
    /// The text table (also printed).
    #[serde(skip)]
    pub table: String,
}

/// The search of a loaded tune with the command line's seed and budget.
pub fn search_of(tune: &Tune, seed: u64, evaluations: usize) -> Search {
    let n = tune.parameters.len();
    let population = tune
        .file
        .search
        .population
        .unwrap_or(4 + (3.0 * (n as f64).ln()).floor() as usize);
    Search {
        parameters: tune.parameters.clone(),
        start: tune.start(),
        compare: tune.compare.clone(),
        sigma: tune.file.search.sigma,
        population,
        seed,
        evaluations,
        heldout_top: tune.file.heldout.top,
    }
}

pub fn header_of(search: &Search, tune_text: &str) -> Header {
    Header {
        kind: "header".into(),
        version: 1,
        tune_hash: results::fnv1a_hex(tune_text),
        seed: search.seed,
        parameters: search.parameters.iter().map(|p| p.name.clone()).collect(),
        population: search.population,
    }
}

fn check_header(found: &Option<Header>, want: &Header, path: &Path) -> Result<()> {
    match found {
        None => Ok(()),
        Some(h) if h == want => Ok(()),
        Some(h) => bail!(
            "{}: results of another tune (tuning-file hash {}, seed {}, population {}; this tune has {}, {}, {})",
            path.display(),
            h.tune_hash,
            h.seed,
            h.population,
            want.tune_hash,
            want.seed,
            want.population
        ),
    }
}

/// Reads results files of one tune into a history.
pub fn load_history(paths: &[PathBuf], header: &Header) -> Result<History> {
    let mut records = Vec::new();
    for p in paths {
        let c = results::read(p)?;
        check_header(&c.header, header, p)?;
        records.extend(c.records);
    }
    Ok(History::from_records(records))
}

/// The generic driver: runs `search` with `eval`, appending to the results
/// file at `results_path` (resuming what it holds), with `jobs` threads.
/// Returns the history and the number of evaluations made.
pub fn drive<E: Evaluate>(
    search: &Search,
    header: &Header,
    eval: &E,
    results_path: Option<&Path>,
    from: &[PathBuf],
    shard: Option<Shard>,
    jobs: usize,
    on_record: &(dyn Fn(&EvalRecord) + Sync),
) -> Result<(History, usize)> {
    let mut history = load_history(from, header)?;
    let log = match results_path {
        Some(path) => {
            let valid_len = if path.exists() {
                let c = results::read(path)?;
                check_header(&c.header, header, path)?;
                for r in c.records {
                    history.records.entry(r.key()).or_insert(r);
                }
                c.valid_len
            } else {
                0
            };
            ResultsLog::open(path, header, valid_len)?
        }
        None => ResultsLog::none(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .context("starting the evaluation threads")?;
    let done = pool.install(|| search.run(eval, &mut history, &log, shard, on_record))?;
    Ok((history, done))
}

/// `recede tune FILE ...`.
pub fn tune(opts: &TuneOptions) -> Result<TuneReport> {
    let tune = Tune::load(&opts.file)?;
    if opts.evaluations == 0 {
        bail!("--evaluations: expected at least 1");
    }
    let search = search_of(&tune, opts.seed, opts.evaluations);
    let header = header_of(&search, &tune.text);
    let stem = opts
        .file
        .file_stem()
        .map_or("tune".into(), |s| s.to_string_lossy().to_string());
    let out_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("tune-out").join(&stem));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let results_path = opts
        .results
        .clone()
        .unwrap_or_else(|| out_dir.join("results.jsonl"));
    if results_path.exists()
        && std::fs::metadata(&results_path)?.len() > 0
        && !opts.resume
        && opts.shard.is_none()
    {
        bail!(
            "{} exists: pass --resume to continue that tune, or remove it",
            results_path.display()
        );
    }
    let jobs = opts.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let eval = eval::ScenarioEvaluator { tune: &tune };

    // Progress: counts this invocation's evaluations and the best so far.
    let done_now = AtomicUsize::new(0);
    let runs_now = AtomicUsize::new(0);
    let search_now = AtomicUsize::new(0);
    let prior = if results_path.exists() {
        results::read(&results_path)
            .map(|c| History::from_records(c.records))
            .unwrap_or_default()
    } else {
        History::default()
    };
    let prior_from = load_history(&opts.from, &header).unwrap_or_default();
    let already = prior.candidates().len().max(prior_from.candidates().len());
    let best = Mutex::new(
        prior
            .ranked()
            .first()
            .and_then(|r| r.objective)
            .unwrap_or(f64::INFINITY),
    );
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let total = search.evaluations;
    let on_record = |r: &EvalRecord| {
        let n = done_now.fetch_add(1, Ordering::Relaxed) + 1;
        runs_now.fetch_add(r.runs.len().max(1), Ordering::Relaxed);
        let is_search = r.set == Set::Train && r.generation.is_some();
        let searched = search_now.fetch_add(usize::from(is_search), Ordering::Relaxed)
            + usize::from(is_search);
        let mut b = best.lock().unwrap_or_else(|e| e.into_inner());
        let improved = is_search && r.cost() < *b;
        if improved {
            *b = r.cost();
        }
        if !opts.progress {
            return;
        }
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let shown = (already + searched).min(total);
        let width = 30;
        let filled = shown * width / total.max(1);
        let line = format!(
            "[{}{}] {shown}/{total} evals  best {}  {:.2} eval/s  ({} {})",
            "#".repeat(filled),
            "-".repeat(width - filled),
            if b.is_finite() {
                format!("{:.5}", *b)
            } else {
                "-".into()
            },
            n as f64 / secs,
            r.label,
            match (r.set, r.objective) {
                (Set::Heldout, Some(v)) => format!("held-out {v:.5}"),
                (_, Some(v)) => format!("{v:.5}"),
                (_, None) => "FAILED".into(),
            }
        );
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{line}\x1b[K");
        } else if improved || shown.is_multiple_of(search.population) || r.set == Set::Heldout {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    };
    let (history, done) = drive(
        &search,
        &header,
        &eval,
        Some(&results_path),
        &opts.from,
        opts.shard,
        jobs,
        &on_record,
    )?;
    if opts.progress && tty {
        eprintln!();
    }
    let wall_secs = started.elapsed().as_secs_f64();
    let searched = search_now.load(Ordering::Relaxed);
    let mut rep = TuneReport {
        evaluations: history.candidates().len(),
        evaluated_now: done,
        evals_per_sec: searched as f64 / wall_secs.max(1e-9),
        runs_per_sec: runs_now.load(Ordering::Relaxed) as f64 / wall_secs.max(1e-9),
        jobs,
        wall_secs,
        failed: history
            .candidates()
            .iter()
            .filter(|r| r.objective.is_none())
            .count(),
        default_objective: history.get(Set::Train, "start").and_then(|r| r.objective),
        best_objective: None,
        compare_objective: history.get(Set::Train, "compare").and_then(|r| r.objective),
        heldout_default: history.get(Set::Heldout, "start").and_then(|r| r.objective),
        heldout_best: None,
        heldout_compare: history
            .get(Set::Heldout, "compare")
            .and_then(|r| r.objective),
        heldout_improvement: None,
        best_label: None,
        best_parameters: BTreeMap::new(),
        best_file: None,
        plot_file: None,
        results_file: results_path.display().to_string(),
        complete: opts.shard.is_none(),
        table: String::new(),
    };
    if opts.shard.is_some() {
        return Ok(rep);
    }
    let top = search.top(&history);
    if let Some(best) = top.first() {
        rep.best_objective = best.objective;
        rep.best_label = Some(best.label.clone());
        rep.heldout_best = history
            .get(Set::Heldout, &best.label)
            .and_then(|r| r.objective);
        for (p, v) in search.parameters.iter().zip(&best.values) {
            rep.best_parameters.insert(p.name.clone(), *v);
        }
        let best_path = out_dir.join(format!(
            "{}_tuned.toml",
            tune.base_path
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().to_string())
        ));
        let text = format!(
            "# Tuned by `recede tune {}` (seed {}, {} evaluations): candidate {},\n\
             # training objective {}, held-out {}.\n{}",
            opts.file.display(),
            opts.seed,
            rep.evaluations,
            best.label,
            best.objective.map_or("-".into(), |v| format!("{v:.6}")),
            rep.heldout_best.map_or("-".into(), |v| format!("{v:.6}")),
            tune.best_file_text(&best.values)?
        );
        std::fs::write(&best_path, text)
            .with_context(|| format!("cannot write {}", best_path.display()))?;
        rep.best_file = Some(best_path.display().to_string());
    }
    if let (Some(d), Some(b)) = (rep.heldout_default, rep.heldout_best) {
        rep.heldout_improvement = Some(1.0 - b / d);
    }
    let plot_path = out_dir.join("report.svg");
    let title = format!("recede tune {} (seed {})", opts.file.display(), opts.seed);
    std::fs::write(
        &plot_path,
        report::svg(&search.parameters, &history, &title),
    )
    .with_context(|| format!("cannot write {}", plot_path.display()))?;
    rep.plot_file = Some(plot_path.display().to_string());
    rep.table = report::table(&search.parameters, &history, &top);
    Ok(rep)
}

/// `recede tune merge OUT IN...`: one results file from several (shards,
/// or a tune's successive pieces). Headers must agree; a record present in
/// several files is kept once.
pub fn merge(out: &Path, inputs: &[PathBuf]) -> Result<usize> {
    if inputs.is_empty() {
        bail!("merge: expected at least one results file to read");
    }
    let mut header: Option<(Header, PathBuf)> = None;
    let mut records = Vec::new();
    for p in inputs {
        let c = results::read(p)?;
        let Some(h) = c.header else {
            continue; // an empty file: a shard that had nothing to do
        };
        match &header {
            None => header = Some((h, p.clone())),
            Some((first, fp)) if *first != h => bail!(
                "merge: {} and {} are results of different tunes (hash {} seed {} vs hash {} seed {})",
                fp.display(),
                p.display(),
                first.tune_hash,
                first.seed,
                h.tune_hash,
                h.seed
            ),
            Some(_) => {}
        }
        records.extend(c.records);
    }
    let Some((header, _)) = header else {
        bail!("merge: no results in the input files");
    };
    let history = History::from_records(records);
    let mut all: Vec<EvalRecord> = history.records.into_values().collect();
    all.sort_by(|a, b| {
        (
            a.set,
            a.generation.is_some(),
            a.generation,
            a.index,
            &a.label,
        )
            .cmp(&(
                b.set,
                b.generation.is_some(),
                b.generation,
                b.index,
                &b.label,
            ))
    });
    results::write_all(out, &header, &all)?;
    Ok(all.len())
}

#[cfg(test)]
mod tests;

//! `recede`: run, check and benchmark MPC scenarios.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use recede_bench as bench;
use recede_runner::{datalog, record, run, scenario, train};
use recede_tune as tune;

mod export_firmware;

#[derive(Debug, Parser)]
#[command(
    name = "recede",
    version,
    about = "Model-predictive control for embodied robots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario's closed loop and print a summary.
    Run {
        scenario: PathBuf,
        /// Simulated duration, s (the scenario's own by default).
        #[arg(long)]
        duration: Option<f64>,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write every control step's transition to FILE (Arrow IPC; see
        /// crates/learn/README.md for the columns).
        #[arg(long, value_name = "FILE")]
        log_data: Option<PathBuf>,
        /// What a `--log-data` row is: `control_period` (a whole period
        /// from the state the controller acted on) or `plant_step` (once a
        /// period, one plant step with its midpoint state `x_mid`).
        #[arg(
            long,
            value_name = "KIND",
            requires = "log_data",
            default_value = "control_period"
        )]
        log_target: datalog::LogTarget,
        /// Pace the loop by the wall clock (deadlines, jitter) instead of lockstep.
        #[arg(long)]
        realtime: bool,
        /// Seed of the simulated world (the scenario's by default).
        #[arg(long)]
        seed: Option<u64>,
        /// Write the rerun recording here (out/<scenario>.rrd by default).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["no_rrd", "spawn", "connect"])]
        rrd: Option<PathBuf>,
        /// Do not record.
        #[arg(long, conflicts_with_all = ["spawn", "connect"])]
        no_rrd: bool,
        /// Stream the recording to a newly spawned viewer instead of a file.
        #[arg(long, conflicts_with = "connect")]
        spawn: bool,
        /// Stream the recording to a running viewer (host:port).
        #[arg(long, value_name = "ADDR")]
        connect: Option<String>,
        /// Threads rendering camera images besides the world's (lockstep
        /// results do not depend on it).
        #[arg(long, value_name = "N")]
        render_workers: Option<usize>,
        /// Fly the scenario with the nominal model: its `[controller.residual]`
        /// left out (the baseline a residual is measured against).
        #[arg(long)]
        no_residual: bool,
        /// Replace a scenario key (a TOML value; repeatable), checked as
        /// if written in the file: --set controller.horizon_steps=30.
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        overrides: Vec<scenario::Override>,
    },
    /// Fit a learned residual to transition logs and write the model file.
    Train {
        /// Transition logs written by `recede run --log-data`.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// The residual's architecture and training options (TOML).
        #[arg(long)]
        model: PathBuf,
        /// The model file to write (safetensors).
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate a scenario file.
    Check {
        scenario: PathBuf,
        /// Replace a scenario key before checking (repeatable), as `run --set`.
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        overrides: Vec<scenario::Override>,
    },
    /// Write a scenario's controller as a firmware blob for
    /// `recede_create_from_blob` (checked as `check` does; no text parsing
    /// on the target).
    ExportFirmware {
        scenario: PathBuf,
        /// The blob file to write.
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Tune a scenario's parameters with CMA-ES (docs/tuning.md).
    Tune(TuneArgs),
    /// Run a reference problem of docs/benchmarks.md; one JSON object per line.
    Bench {
        problem: Problem,
        /// Accepted for symmetry with `run`; output is always JSON lines.
        #[arg(long)]
        json: bool,
        /// P2 only: the peak speeds to fly, m/s (default 3,6,9,12). Giving
        /// this or `--models` runs only those figure-eight lines (no arm).
        #[arg(long, value_delimiter = ',')]
        speeds: Vec<f64>,
        /// P2 only: the prediction models to compare (default all three);
        /// without `residual` nothing is trained.
        #[arg(long, value_delimiter = ',')]
        models: Vec<bench::p2::P2Model>,
        /// robust only: run the cases whose names contain one of these.
        #[arg(long, value_delimiter = ',')]
        cases: Vec<String>,
        /// scale only: the QP structures to measure, one set of lines each
        /// (auto, full, partial, none; default auto).
        #[arg(long, value_delimiter = ',')]
        condensing: Vec<recede_mpc::Condensing>,
        /// scale only: the QP solvers to measure each structure with
        /// (osqp, dense, riccati; default osqp). The dense one needs an
        /// unscaled QP (full condensing); riccati is for P1 (input bounds
        /// only) and not full condensing.
        #[arg(long, value_delimiter = ',')]
        qp_solver: Vec<recede_mpc::QpSolver>,
        /// scale only: stages per block for `partial` (chosen by size when absent).
        #[arg(long)]
        block: Option<usize>,
        /// scale only: P1's horizons (default 20,40,80,160,320; none when empty).
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        p1_horizons: Option<Vec<usize>>,
        /// scale only: P2's horizons (default 20,40,80; none when empty).
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        p2_horizons: Option<Vec<usize>>,
        /// P1 only: the cart-pole from this robot model file
        /// (configs/models/cartpole.toml), run after the built-in; its line
        /// gives the cost and the step median relative to the built-in's.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
    },
}

/// `recede tune FILE ...` or `recede tune merge OUT IN...`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct TuneArgs {
    #[command(subcommand)]
    action: Option<TuneAction>,
    /// The tuning file (see docs/tuning.md).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Search candidates to evaluate in all.
    #[arg(long, default_value_t = 200)]
    evaluations: usize,
    /// Threads evaluating candidates (all cores by default).
    #[arg(long)]
    jobs: Option<usize>,
    /// Seed of the search: same seed, same candidates, same result.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue the tune recorded in the results file.
    #[arg(long)]
    resume: bool,
    /// Evaluate only share K of N (from 0) of the next generation, then stop.
    /// Without it, a SLURM array task (SLURM_ARRAY_TASK_ID/COUNT) or a
    /// Kubernetes indexed Job (JOB_COMPLETION_INDEX, JOB_COMPLETIONS) is
    /// its own shard.
    #[arg(long, value_name = "K/N")]
    shard: Option<tune::search::Shard>,
    /// Results of earlier generations (a merged file) that a shard continues.
    #[arg(long, value_name = "RESULTS")]
    from: Vec<PathBuf>,
    /// Output directory (results, tuned scenario, plot); tune-out/<file stem> by default.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Results file; <out>/results.jsonl by default.
    #[arg(long)]
    results: Option<PathBuf>,
    /// End with one JSON object on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum TuneAction {
    /// Combine results files (shards) into one.
    Merge {
        /// The merged file to write (may also be one of the inputs).
        out: PathBuf,
        /// Results files to read.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Problem {
    P1,
    P2,
    /// P2's second robot alone: configs/bench/arm.toml, the arm with an
    /// unknown payload (`p2` without `--speeds`/`--models` runs it too).
    Arm,
    P3,
    /// Set-point steps, model mismatch, sensor faults (README's table).
    Robust,
    /// The step against the horizon: P1 at N = 20..320, P2 at N = 20..80.
    Scale,
    /// The soft robots: the soft cart-pole (nominal, residual) and the
    /// continuum arm against their finer plants (docs/soft-robots.md).
    Soft,
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    match execute(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `recede run --json | head -c 40` and `recede bench ... | head -1` end
/// as every Unix filter does when their reader leaves: by SIGPIPE, quietly.
/// Rust ignores SIGPIPE, which turns the write into an error and
/// `println!` into a panic. Sockets (a viewer over TCP) are unaffected:
/// the standard library sends with `MSG_NOSIGNAL`.
fn quiet_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn execute(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run {
            scenario,
            duration,
            json,
            log_data,
            log_target,
            realtime,
            seed,
            rrd,
            no_rrd,
            spawn,
            connect,
            render_workers,
            no_residual,
            overrides,
        } => {
            let mut scenario = scenario::Scenario::load_with(&scenario, &overrides)?;
            if no_residual {
                scenario.file.controller.residual = None;
            }
            let recording = if no_rrd {
                record::Recording::Off
            } else if spawn {
                record::Recording::Spawn
            } else if let Some(addr) = connect {
                record::Recording::Connect(addr)
            } else {
                let path = rrd
                    .or_else(|| scenario.file.recording.path.clone())
                    .unwrap_or_else(|| {
                        PathBuf::from("out").join(format!("{}.rrd", scenario.file.scenario.name))
                    });
                if let Some(dir) = path.parent().filter(|d| *d == std::path::Path::new("out")) {
                    // The default directory is ours to create; any other must exist.
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                record::Recording::File(path)
            };
            // SIGINT, SIGTERM and SIGHUP (ctrlc's `termination` feature) all
            // end the run the same way: summary, recording and log closed.
            let stop = recede_rt::StopFlag::new();
            {
                let stop = stop.clone();
                ctrlc::set_handler(move || stop.stop())
                    .context("installing the SIGINT/SIGTERM/SIGHUP handler")?;
            }
            let options = run::RunOptions {
                duration_secs: duration,
                seed,
                realtime,
                recording,
                progress: !json,
                stop,
                render_workers,
            };
            let mut log = log_data
                .as_deref()
                .map(|p| datalog::DataLog::create_for(p, &scenario.file.robot, false, log_target))
                .transpose()?;
            let summary = run::run_with_options_and_log(&scenario, &options, log.as_mut())?;
            if let Some(log) = log {
                let path = log.path().display().to_string();
                let rows = log.finish()?;
                eprintln!("wrote {rows} transitions to {path}");
            }
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                print_summary(&summary);
            }
            Ok(if summary.goal_reached {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Train { data, model, out } => {
            let summary = train::run(&data, &model, &out)?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            scenario,
            overrides,
        } => {
            let s = scenario::Scenario::load_with(&scenario, &overrides)?;
            println!(
                "{}: ok ({}, {} s, controller every {} s)",
                scenario.display(),
                s.file.robot.kind(),
                s.file.scenario.duration_secs,
                s.period_secs()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ExportFirmware { scenario, out } => {
            let bytes = export_firmware::run(&scenario, &out)?;
            println!("{}: {bytes} bytes", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Tune(args) => run_tune(args),
        Command::Bench {
            problem,
            json: _,
            speeds,
            models,
            cases,
            condensing,
            qp_solver,
            block,
            p1_horizons,
            p2_horizons,
            model,
        } => {
            if model.is_some() && !matches!(problem, Problem::P1) {
                anyhow::bail!("--model: P1 only (the cart-pole from a model file)");
            }
            if let Some(bad) = speeds.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
                anyhow::bail!("--speeds: expected peak speeds > 0 m/s, found {bad}");
            }
            let lines = match problem {
                Problem::P1 => match &model {
                    Some(path) => json_lines(&bench::p1::run_with_model(path)?)?,
                    None => json_lines(&bench::p1::run_variants()?)?,
                },
                Problem::P2 => {
                    let selected = !speeds.is_empty() || !models.is_empty();
                    let mut options = bench::p2::P2Options::default();
                    if !speeds.is_empty() {
                        options.speeds_m_s = speeds;
                    }
                    if !models.is_empty() {
                        options.models = models;
                    }
                    let mut lines = json_lines(&bench::p2::run(&options)?)?;
                    if !selected {
                        // Issue 6's second robot: the arm with an unknown payload.
                        lines.extend(json_lines(&bench::arm::run(&Default::default())?)?);
                    }
                    lines
                }
                Problem::Arm => json_lines(&bench::arm::run(&Default::default())?)?,
                Problem::P3 => json_lines(&[bench::p3::run()?])?,
                Problem::Scale => {
                    if block == Some(0) {
                        anyhow::bail!("--block: expected stages per block >= 1, found 0");
                    }
                    if let Some(n) = p1_horizons
                        .iter()
                        .chain(&p2_horizons)
                        .flatten()
                        .find(|n| **n == 0)
                    {
                        anyhow::bail!(
                            "--p1-horizons / --p2-horizons: expected horizons >= 1, found {n}"
                        );
                    }
                    let mut options = bench::scale::ScaleOptions::default();
                    if !condensing.is_empty() {
                        options.structures = condensing
                            .iter()
                            .map(|&condensing| recede_mpc::QpConfig {
                                condensing,
                                block,
                                ..Default::default()
                            })
                            .collect();
                    } else if block.is_some() {
                        options.structures[0].block = block;
                    }
                    if !qp_solver.is_empty() {
                        options.p1_file_solver = false;
                        options.structures = options
                            .structures
                            .iter()
                            .flat_map(|qp| {
                                qp_solver.iter().map(|&solver| recede_mpc::QpConfig {
                                    solver,
                                    ..qp.clone()
                                })
                            })
                            .collect();
                    }
                    options.p1_horizons = p1_horizons.unwrap_or(options.p1_horizons);
                    options.p2_horizons = p2_horizons.unwrap_or(options.p2_horizons);
                    // One line per size as it finishes: the largest take a while.
                    bench::scale::run(&options, |line| {
                        if let Ok(text) = serde_json::to_string(line) {
                            println!("{text}");
                        }
                    })?;
                    return Ok(ExitCode::SUCCESS);
                }
                Problem::Soft => {
                    // One line per run as it finishes.
                    bench::soft::run(|line| {
                        if let Ok(text) = serde_json::to_string(line) {
                            println!("{text}");
                        }
                    })?;
                    return Ok(ExitCode::SUCCESS);
                }
                Problem::Robust => {
                    // One line per case as it finishes: the whole set takes minutes.
                    let results = bench::robust::run(&cases, |r| {
                        if let Ok(line) = serde_json::to_string(r) {
                            println!("{line}");
                        }
                    })?;
                    let failed = results.iter().filter(|r| !r.passed).count();
                    eprintln!("{} cases, {failed} failed", results.len());
                    return Ok(ExitCode::from(u8::from(failed > 0)));
                }
            };
            for line in lines {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_tune(args: TuneArgs) -> Result<ExitCode> {
    if let Some(TuneAction::Merge { out, inputs }) = args.action {
        let n = tune::merge(&out, &inputs)?;
        eprintln!("{}: {n} evaluations", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let file = args.file.context("a tuning file is required")?;
    let shard = match args.shard {
        Some(shard) => Some(shard),
        None => tune::shard_env::shard_from_env(|k| std::env::var(k).ok())?.map(|(shard, from)| {
            eprintln!("shard {}/{} from {from}", shard.index, shard.count);
            shard
        }),
    };
    let report = tune::tune(&tune::TuneOptions {
        file,
        evaluations: args.evaluations,
        jobs: args.jobs,
        seed: args.seed,
        resume: args.resume,
        shard,
        out_dir: args.out,
        results: args.results,
        from: args.from,
        progress: !args.quiet,
    })?;
    if args.json {
        eprint!("{}", report.table);
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table);
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.5}"));
        println!(
            "objective: start {} -> best {} (train); held-out {} -> {}; compare {} / held-out {}",
            show(report.default_objective),
            show(report.best_objective),
            show(report.heldout_default),
            show(report.heldout_best),
            show(report.compare_objective),
            show(report.heldout_compare)
        );
        println!(
            "{} evaluations ({} now, {:.2} evals/s, {} jobs); results {}",
            report.evaluations,
            report.evaluated_now,
            report.evals_per_sec,
            report.jobs,
            report.results_file
        );
        if let Some(f) = &report.best_file {
            println!("best scenario {f}");
        }
        if let Some(f) = &report.plot_file {
            println!("plot {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn json_lines<T: serde::Serialize>(items: &[T]) -> Result<Vec<String>> {
    items
        .iter()
        .map(|item| serde_json::to_string(item).map_err(Into::into))
        .collect()
}

fn print_summary(s: &run::RunSummary) {
    println!("scenario      {} ({})", s.scenario, s.robot);
    println!(
        "simulated     {:.2} s in {:.2} s wall ({:.1}x real time, {}), {} control steps{}",
        s.sim_secs,
        s.wall_secs,
        s.realtime_factor,
        s.mode,
        s.control_steps,
        if s.stopped {
            ", stopped by a signal"
        } else {
            ""
        }
    );
    if s.estimator == "truth" {
        println!("estimator     truth (the true state: a debugging mode, no estimation error)");
    } else {
        println!("estimator     {}", s.estimator);
    }
    println!(
        "goal reached  {}",
        if s.goal_reached { "yes" } else { "NO" }
    );
    if let Some(rmse) = s.tracking_rmse_m {
        println!("tracking RMSE {rmse:.3} m");
    }
    if let Some(rmse) = s.end_effector_rmse_m {
        println!("end effector  {:.1} mm RMSE from its path", rmse * 1e3);
    }
    if let Some(rmse) = s.estimate_rmse_m {
        println!("estimate RMSE {rmse:.4} m ({} estimator)", s.estimator);
    }
    if let (Some(r), Some(clipped)) = (&s.residual, s.residual_clipped_fraction) {
        let adapted = r.adaptation.map_or(0, |a| a.updated);
        println!(
            "residual      {:.1}% of evaluations clipped to the training support, {adapted} adaptation updates",
            100.0 * clipped
        );
    }
    println!(
        "step time     median {:.0} us, p99 {:.0} us, max {:.0} us",
        s.step_us.median, s.step_us.p99, s.step_us.max
    );
    println!(
        "fallbacks     {}, inaccurate solves {}, constraint violations {}, deadline misses {}",
        s.fallbacks, s.inaccurate_solves, s.safety.constraint_violations, s.deadline_misses
    );
    let safety = &s.safety;
    match (safety.first_collision_secs, &safety.first_collision_with) {
        (Some(t), Some(with)) => println!(
            "collisions    {} (first at {t:.2} s with {with}, deepest {:.2} m)",
            safety.collisions, safety.max_penetration_m
        ),
        _ => println!("collisions    0"),
    }
    for b in safety.bounds.iter().filter(|b| b.violations > 0) {
        println!(
            "bound         {} ({}, {}): exceeded at {} instants, worst by {:.3}",
            b.key,
            if b.soft { "soft" } else { "hard" },
            b.limit,
            b.violations,
            b.worst_excess
        );
    }
    if safety.commands_out_of_bounds > 0 {
        println!(
            "commands      {} out of bounds or not finite",
            safety.commands_out_of_bounds
        );
    }
    if let Some(j) = &s.loop_jitter_us {
        println!(
            "loop jitter   p50 {:.0} us, p99 {:.0} us, max {:.0} us",
            j.p50, j.p99, j.max
        );
    }
    if let Some(c) = s.min_clearance_m {
        println!("clearance     min {c:.2} m");
    }
    for (name, c) in &s.sensors {
        println!(
            "sensor        {name}: {} delivered, {} dropped, {} rejected",
            c.delivered, c.dropped, c.rejected
        );
    }
    match &s.recording {
        Some(r) => println!(
            "recording     {r} ({} messages dropped)",
            s.recorder_dropped
        ),
        None => println!("recording     off"),
    }
}

//! The search: CMA-ES (the `cmaes` crate) over the parameters' unit cube,
//! generic over the evaluation function.
//!
//! Generations are fixed batches: generation `g` is a function of the seed
//! and the recorded objectives of generations `0..g` only. The `cmaes` crate
//! has no ask/tell interface, so generation `g` is obtained by building the
//! optimiser from the seed, replaying the recorded generations through it
//! (its objective function answers from the records, in sampling order) and
//! capturing the points it samples next. Replaying costs a few CMA updates
//! per generation, nothing next to one simulation, and makes a resumed,
//! sharded or uninterrupted tune sample exactly the same candidates.
//!
//! Points outside the unit cube are mirrored into it (the objective seen by
//! CMA-ES is the objective of the mirrored point). When CMA-ES stops on one
//! of its own termination criteria it restarts, deterministically, from the
//! best point so far with the initial step size and a derived seed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cmaes::{CMAESOptions, DVector};
use rayon::prelude::*;

use crate::results::{EvalRecord, ResultsLog, RunRecord, Set};
use crate::spec::Parameter;

/// What evaluating one candidate gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Infinite when the candidate failed.
    pub objective: f64,
    pub failure: Option<String>,
    pub runs: Vec<RunRecord>,
}

/// The evaluation function: a candidate's parameter values to its objective
/// on the training or the held-out set. An `Err` stops the tune (a mistake
/// in the tuning file, e.g. a metric the run summary does not have); a
/// candidate that fails (diverges, collides, panics) is an `Ok` with an
/// infinite objective.
pub trait Evaluate: Sync {
    fn evaluate(&self, values: &[f64], set: Set) -> Result<Evaluation>;
}

impl<F: Fn(&[f64], Set) -> Result<Evaluation> + Sync> Evaluate for F {
    fn evaluate(&self, values: &[f64], set: Set) -> Result<Evaluation> {
        self(values, set)
    }
}

/// Which share of each generation this process evaluates: candidates whose
/// index `i` has `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (k, n) = s
            .split_once('/')
            .context("expected K/N, e.g. 0/4 (shards are numbered from 0)")?;
        let index: usize = k
            .trim()
            .parse()
            .context("K in K/N: expected an integer >= 0")?;
        let count: usize = n
            .trim()
            .parse()
            .context("N in K/N: expected an integer >= 1")?;
        if count == 0 || index >= count {
            bail!("expected 0 <= K < N in K/N, found {index}/{count}");
        }
        Ok(Self { index, count })
    }
}

/// The search's settings (from the tuning file and the command line).
#[derive(Debug, Clone)]
pub struct Search {
    pub parameters: Vec<Parameter>,
    /// The starting values (the poor weights), also evaluated as `start`.
    pub start: Vec<f64>,
    /// A reference point evaluated as `compare` (e.g. the shipped defaults).
    pub compare: Option<Vec<f64>>,
    pub sigma: f64,
    pub population: usize,
    pub seed: u64,
    /// Search candidates to evaluate in all (the last generation may be partial).
    pub evaluations: usize,
    /// How many of the best training candidates are evaluated held-out.
    pub heldout_top: usize,
}

/// Every evaluation so far, keyed by set and label.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub records: BTreeMap<(Set, String), EvalRecord>,
}

impl History {
    pub fn from_records(records: impl IntoIterator<Item = EvalRecord>) -> Self {
        let mut h = Self::default();
        for r in records {
            h.records.entry(r.key()).or_insert(r);
        }
        h
    }

    pub fn get(&self, set: Set, label: &str) -> Option<&EvalRecord> {
        self.records.get(&(set, label.to_string()))
    }

    /// Search candidates on the training set, in (generation, index) order.
    pub fn candidates(&self) -> Vec<&EvalRecord> {
        let mut v: Vec<&EvalRecord> = self
            .records
            .values()
            .filter(|r| r.set == Set::Train && r.generation.is_some())
            .collect();
        v.sort_by_key(|r| (r.generation, r.index));
        v
    }

    /// Training candidates from best to worst; ties keep the earlier one first.
    pub fn ranked(&self) -> Vec<&EvalRecord> {
        let mut v = self.candidates();
        v.sort_by(|a, b| a.cost().total_cmp(&b.cost()));
        v
    }
}

/// One evaluation to make: set, label, (generation, index), point, values.
type Job = (Set, String, Option<(usize, usize)>, Vec<f64>, Vec<f64>);

pub fn label(generation: usize, index: usize) -> String {
    format!("g{generation}.{index}")
}

/// Maps any real to [0, 1] by reflection at the faces.
pub fn mirror(x: f64) -> f64 {
    let t = x.rem_euclid(2.0);
    if t > 1.0 {
        2.0 - t
    } else {
        t
    }
}

enum Oracle {
    Replay {
        values: Vec<f64>,
        points: Vec<Vec<f64>>,
        next: usize,
        mismatch: bool,
    },
    Capture(Vec<Vec<f64>>),
}

impl Search {
    pub fn generations(&self) -> usize {
        self.evaluations.div_ceil(self.population)
    }

    /// Candidates in generation `g` (the last may be partial).
    pub fn generation_size(&self, g: usize) -> usize {
        self.population
            .min(self.evaluations.saturating_sub(g * self.population))
    }

    fn values_of(&self, x: &[f64]) -> Vec<f64> {
        self.parameters
            .iter()
            .zip(x)
            .map(|(p, x)| p.from_unit(mirror(*x)))
            .collect()
    }

    fn derived_seed(&self, restart: usize) -> u64 {
        self.seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(restart as u64 * 0xbf58_476d_1ce4_e5b9)
    }

    /// The points of generation `g`, from the seed and the records of
    /// generations `0..g` (which must be complete).
    pub fn ask(&self, history: &History, g: usize) -> Result<Vec<Vec<f64>>> {
        let oracle = Rc::new(RefCell::new(Oracle::Capture(Vec::new())));
        let build = |mean: Vec<f64>, restart: usize| {
            let o = Rc::clone(&oracle);
            CMAESOptions::new(mean, self.sigma)
                .population_size(self.population)
                .seed(self.derived_seed(restart))
                .build(move |x: &DVector<f64>| -> f64 {
                    match &mut *o.borrow_mut() {
                        Oracle::Capture(points) => {
                            points.push(x.iter().copied().collect());
                            0.0
                        }
                        Oracle::Replay {
                            values,
                            points,
                            next,
                            mismatch,
                        } => {
                            let i = *next;
                            *next += 1;
                            let same = points.get(i).is_some_and(|p| {
                                p.len() == x.len()
                                    && p.iter()
                                        .zip(x.iter())
                                        .all(|(a, b)| (a - b).abs() <= 1e-12 * (1.0 + a.abs()))
                            });
                            *mismatch |= !same;
                            values.get(i).copied().unwrap_or(f64::INFINITY)
                        }
                    }
                })
                .map_err(|e| anyhow::anyhow!("CMA-ES options: {e:?}"))
        };
        let start_unit: Vec<f64> = self
            .parameters
            .iter()
            .zip(&self.start)
            .map(|(p, v)| p.to_unit(*v))
            .collect();
        let mut restart = 0;
        let mut cma = build(start_unit, restart)?;
        let mut best: Option<(f64, Vec<f64>)> = None;
        for past in 0..g {
            let mut values = Vec::with_capacity(self.population);
            let mut points = Vec::with_capacity(self.population);
            for i in 0..self.population {
                let Some(r) = history.get(Set::Train, &label(past, i)) else {
                    bail!("generation {past} is incomplete: candidate {i} has no result");
                };
                values.push(r.cost());
                points.push(r.x.clone());
                if best.as_ref().is_none_or(|(b, _)| r.cost() < *b) {
                    best = Some((r.cost(), r.x.iter().map(|x| mirror(*x)).collect()));
                }
            }
            *oracle.borrow_mut() = Oracle::Replay {
                values,
                points,
                next: 0,
                mismatch: false,
            };
            let stopped = cma.next().is_some();
            if let Oracle::Replay { mismatch: true, .. } = &*oracle.borrow() {
                bail!(
                    "generation {past} in the results does not match this tune's seed {} and settings: \
                     the results file comes from another tune",
                    self.seed
                );
            }
            if stopped {
                restart += 1;
                let mean = best.as_ref().map(|(_, x)| x.clone()).unwrap_or_default();
                cma = build(mean, restart)?;
            }
        }
        *oracle.borrow_mut() = Oracle::Capture(Vec::new());
        let _ = cma.next();
        let points = match std::mem::replace(&mut *oracle.borrow_mut(), Oracle::Capture(Vec::new()))
        {
            Oracle::Capture(p) => p,
            Oracle::Replay { .. } => unreachable!("the oracle was set to capture"),
        };
        Ok(points)
    }

    fn evaluate_one<E: Evaluate>(
        &self,
        eval: &E,
        set: Set,
        label: String,
        at: Option<(usize, usize)>,
        x: Vec<f64>,
        values: Vec<f64>,
    ) -> Result<EvalRecord> {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| eval.evaluate(&values, set)));
        let e = match outcome {
            Ok(r) => r.with_context(|| format!("evaluating {label}"))?,
            Err(panic) => Evaluation {
                objective: f64::INFINITY,
                failure: Some(format!("panicked: {}", panic_message(&*panic))),
                runs: Vec::new(),
            },
        };
        let failed = e.failure.is_some() || !e.objective.is_finite();
        Ok(EvalRecord {
            kind: "eval".into(),
            set,
            label,
            generation: at.map(|a| a.0),
            index: at.map(|a| a.1),
            x,
            values,
            objective: (!failed).then_some(e.objective),
            failure: if failed {
                Some(
                    e.failure
                        .unwrap_or_else(|| format!("objective {}", e.objective)),
                )
            } else {
                None
            },
            runs: e.runs,
            wall_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// Evaluates `jobs` in parallel (rayon), appending each record to the log
    /// as it finishes, then adds them to the history in a fixed order.
    fn evaluate_batch<E: Evaluate>(
        &self,
        eval: &E,
        jobs: Vec<Job>,
        history: &mut History,
        log: &ResultsLog,
        on_record: &(dyn Fn(&EvalRecord) + Sync),
    ) -> Result<usize> {
        let n = jobs.len();
        let records: Vec<Result<EvalRecord>> = jobs
            .into_par_iter()
            .map(|(set, label, at, x, values)| {
                let r = self.evaluate_one(eval, set, label, at, x, values)?;
                log.append(&r)?;
                on_record(&r);
                Ok(r)
            })
            .collect();
        for r in records {
            let r = r?;
            history.records.insert(r.key(), r);
        }
        Ok(n)
    }

    /// Runs what is missing from `history`: the start (and compare) points,
    /// the generations up to the budget, then the held-out evaluations of the
    /// best candidates. With a shard, only this shard's share of the first
    /// incomplete generation is evaluated (nothing else): a later call with
    /// the merged results continues. Returns the number of evaluations made.
    pub fn run<E: Evaluate>(
        &self,
        eval: &E,
        history: &mut History,
        log: &ResultsLog,
        shard: Option<Shard>,
        on_record: &(dyn Fn(&EvalRecord) + Sync),
    ) -> Result<usize> {
        let mut done = 0;
        if shard.is_none() {
            let mut jobs = Vec::new();
            for (name, values) in self.reference_points() {
                if history.get(Set::Train, name).is_none() {
                    jobs.push((Set::Train, name.to_string(), None, Vec::new(), values));
                }
            }
            done += self.evaluate_batch(eval, jobs, history, log, on_record)?;
        }
        for g in 0..self.generations() {
            let size = self.generation_size(g);
            let missing: Vec<usize> = (0..size)
                .filter(|i| history.get(Set::Train, &label(g, *i)).is_none())
                .collect();
            if missing.is_empty() {
                continue;
            }
            let points = self.ask(history, g)?;
            let jobs = missing
                .into_iter()
                .filter(|i| shard.is_none_or(|s| i % s.count == s.index))
                .map(|i| {
                    let x = points[i].clone();
                    let values = self.values_of(&x);
                    (Set::Train, label(g, i), Some((g, i)), x, values)
                })
                .collect();
            done += self.evaluate_batch(eval, jobs, history, log, on_record)?;
            if shard.is_some() {
                return Ok(done);
            }
        }
        if shard.is_none() {
            let mut jobs = Vec::new();
            for (name, values) in self.reference_points() {
                if history.get(Set::Heldout, name).is_none() {
                    jobs.push((Set::Heldout, name.to_string(), None, Vec::new(), values));
                }
            }
            for r in self.top(history) {
                if history.get(Set::Heldout, &r.label).is_none() {
                    jobs.push((
                        Set::Heldout,
                        r.label.clone(),
                        r.generation.zip(r.index),
                        r.x.clone(),
                        r.values.clone(),
                    ));
                }
            }
            done += self.evaluate_batch(eval, jobs, history, log, on_record)?;
        }
        Ok(done)
    }

    fn reference_points(&self) -> Vec<(&'static str, Vec<f64>)> {
        let mut v = vec![("start", self.start.clone())];
        if let Some(c) = &self.compare {
            v.push(("compare", c.clone()));
        }
        v
    }

    /// The best finite training candidates, at most `heldout_top`.
    pub fn top<'h>(&self, history: &'h History) -> Vec<&'h EvalRecord> {
        history
            .ranked()
            .into_iter()
            .filter(|r| r.objective.is_some())
            .take(self.heldout_top)
            .collect()
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

//! The evaluation function of a real tune: each run of a candidate is
//! `recede::run::run` on the scenario with the candidate's values written
//! into its TOML document, in lockstep, read back through the run summary's
//! JSON by metric name (so fields the summary gains are usable at once).

use std::panic::{catch_unwind, AssertUnwindSafe};

use anyhow::Result;

use crate::keypath::get_json;
use crate::results::{RunRecord, Set};
use crate::search::{Evaluate, Evaluation};
use crate::spec::Tune;

/// Evaluates candidates by running the tune's scenarios.
#[derive(Debug)]
pub struct ScenarioEvaluator<'a> {
    pub tune: &'a Tune,
}

impl Evaluate for ScenarioEvaluator<'_> {
    fn evaluate(&self, values: &[f64], set: Set) -> Result<Evaluation> {
        let setups = match set {
            Set::Train => &self.tune.train,
            Set::Heldout => &self.tune.heldout,
        };
        let mut runs = Vec::new();
        let mut total = 0.0;
        for s in setups {
            for &seed in &s.seeds {
                let name = s.path.display().to_string();
                let mut record = RunRecord {
                    scenario: name.clone(),
                    seed,
                    cost: None,
                    failure: None,
                    metrics: Default::default(),
                };
                let failure = match self.run_once(s, values, seed, &mut record)? {
                    Ok(cost) => {
                        record.cost = Some(cost);
                        total += cost;
                        None
                    }
                    Err(why) => Some(why),
                };
                record.failure.clone_from(&failure);
                runs.push(record);
                if let Some(why) = failure {
                    // One failed run fails the candidate; the others need not run.
                    return Ok(Evaluation {
                        objective: f64::INFINITY,
                        failure: Some(format!("{name} seed {seed}: {why}")),
                        runs,
                    });
                }
            }
        }
        Ok(Evaluation {
            objective: total / runs.len().max(1) as f64,
            failure: None,
            runs,
        })
    }
}

impl ScenarioEvaluator<'_> {
    fn run_once(
        &self,
        s: &crate::spec::ScenarioSetup,
        values: &[f64],
        seed: u64,
        record: &mut RunRecord,
    ) -> Result<std::result::Result<f64, String>> {
        let scenario = match self.tune.scenario(s, values, seed) {
            Ok(sc) => sc,
            Err(e) => return Ok(Err(format!("invalid candidate: {e:#}"))),
        };
        let summary = match catch_unwind(AssertUnwindSafe(|| {
            recede_runner::run::run(&scenario, None)
        })) {
            Ok(Ok(summary)) => summary,
            Ok(Err(e)) => return Ok(Err(format!("run failed: {e:#}"))),
            Err(_) => return Ok(Err("the run panicked".into())),
        };
        let json = serde_json::to_value(&summary)?;
        for (k, _) in &self.tune.metrics {
            if let Some(v) = get_json(&json, k) {
                record.metrics.insert(k.to_string(), v);
            }
        }
        self.tune.cost(&json)
    }
}

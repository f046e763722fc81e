//! The tuning file: what to tune, on what, against which objective.
//!
//! Parsed with unknown keys rejected, then checked before anything runs;
//! every error names the file and the key. See docs/tuning.md for the format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use toml_edit::DocumentMut;

use crate::keypath::KeyPath;
use recede_runner::scenario::Scenario;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    Linear,
    Log,
}

/// One key path, or several that always take the same value (e.g. the
/// three position weights of a quadrotor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Keys {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// Dotted key path(s) into the scenario file.
    pub key: Keys,
    /// Shown in the report; the first key path when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// `[min, max]`, in the key's own units.
    pub range: [f64; 2],
    #[serde(default = "linear")]
    pub scale: Scale,
    /// Round to an integer (a horizon length, an iteration count).
    #[serde(default)]
    pub integer: bool,
    /// The starting value; the value in the first training scenario when absent.
    #[serde(default)]
    pub start: Option<f64>,
}

fn linear() -> Scale {
    Scale::Linear
}

/// A value drawn per seed, uniformly in `range` (on `scale`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomizeSpec {
    pub key: String,
    pub range: [f64; 2],
    #[serde(default = "linear")]
    pub scale: Scale,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// A scenario file, relative to the tuning file.
    pub path: PathBuf,
    /// One run per seed; the seed is written to `scenario.seed` and drives
    /// the randomisation below.
    pub seeds: Vec<u64>,
    /// Fixed overrides for this scenario in the tune (e.g. a shorter
    /// `scenario.duration_secs`); not written to the best scenario file.
    #[serde(default)]
    pub set: BTreeMap<String, f64>,
    #[serde(default)]
    pub randomize: Vec<RandomizeSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOutSpec {
    /// Seeds run on every training scenario (with its randomisation).
    pub seeds: Vec<u64>,
    /// Further scenarios run only for the held-out objective.
    #[serde(default)]
    pub scenarios: Vec<ScenarioSpec>,
    /// How many of the best training candidates are evaluated held-out.
    #[serde(default = "three")]
    pub top: usize,
}

fn three() -> usize {
    3
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// Metric (a key path into the run summary JSON) -> weight. A run's cost
    /// is the weighted sum; a candidate's is the mean over its runs.
    pub weights: BTreeMap<String, f64>,
    /// A run that does not reach its goal is a hard failure.
    #[serde(default)]
    pub fail_if_goal_not_reached: bool,
    /// A run whose final state has a component beyond this magnitude has
    /// diverged (a non-finite state always has).
    #[serde(default)]
    pub divergence_state_abs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSpec {
    /// Candidates per generation; CMA-ES's default (4 + 3 ln n) when absent.
    pub population: Option<usize>,
    /// Initial step size, as a fraction of each parameter's (scaled) range.
    pub sigma: f64,
}

impl Default for SearchSpec {
    fn default() -> Self {
        Self {
            population: None,
            sigma: 0.3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneFile {
    pub parameters: Vec<ParameterSpec>,
    pub scenarios: Vec<ScenarioSpec>,
    pub heldout: HeldOutSpec,
    pub objective: ObjectiveSpec,
    #[serde(default)]
    pub search: SearchSpec,
    /// A scenario whose values at the parameters' keys are evaluated too,
    /// as a reference (e.g. the hand-tuned defaults in configs/).
    #[serde(default)]
    pub compare_with: Option<PathBuf>,
}

/// A parameter checked: its keys parsed, its range and start validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub keys: Vec<KeyPath>,
    pub min: f64,
    pub max: f64,
    pub scale: Scale,
    pub integer: bool,
    pub start: f64,
}

impl Parameter {
    /// From the unit interval (clamped) to the parameter's value.
    pub fn from_unit(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let v = match self.scale {
            Scale::Linear => self.min + u * (self.max - self.min),
            Scale::Log => (self.min.ln() + u * (self.max.ln() - self.min.ln())).exp(),
        };
        let v = v.clamp(self.min, self.max);
        if self.integer {
            v.round()
        } else {
            v
        }
    }

    /// From a value to the unit interval.
    pub fn to_unit(&self, v: f64) -> f64 {
        let u = match self.scale {
            Scale::Linear => (v - self.min) / (self.max - self.min),
            Scale::Log => (v.ln() - self.min.ln()) / (self.max.ln() - self.min.ln()),
        };
        u.clamp(0.0, 1.0)
    }
}

/// A scenario of the tune: its document and the fixed overrides applied.
#[derive(Debug, Clone)]
pub struct ScenarioSetup {
    pub path: PathBuf,
    pub doc: DocumentMut,
    pub seeds: Vec<u64>,
    pub randomize: Vec<(KeyPath, [f64; 2], Scale)>,
}

/// A tuning file loaded and checked.
#[derive(Debug, Clone)]
pub struct Tune {
    pub path: PathBuf,
    pub text: String,
    pub file: TuneFile,
    pub parameters: Vec<Parameter>,
    pub train: Vec<ScenarioSetup>,
    pub heldout: Vec<ScenarioSetup>,
    pub metrics: Vec<(KeyPath, f64)>,
    /// The first training scenario as written (no overrides): the best
    /// parameters are written back into it.
    pub base_doc: DocumentMut,
    pub base_path: PathBuf,
    /// The compare-with scenario's values at the parameters' keys.
    pub compare: Option<Vec<f64>>,
}

impl Tune {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tuning file {}", path.display()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let file: TuneFile = toml::from_str(text)
            .map_err(|e| anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        Self::check(file, text, path)
            .with_context(|| format!("{}: invalid tuning file", path.display()))
    }

    fn check(file: TuneFile, text: &str, path: &Path) -> Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        if file.parameters.is_empty() {
            bail!("`parameters`: expected at least one parameter");
        }
        if file.scenarios.is_empty() {
            bail!("`scenarios`: expected at least one training scenario");
        }
        let train = file
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| setup(s, dir, &format!("scenarios[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let mut heldout = Vec::new();
        if file.heldout.seeds.is_empty() {
            bail!("`heldout.seeds`: expected at least one seed");
        }
        if file.heldout.top == 0 {
            bail!("`heldout.top`: expected at least 1 candidate");
        }
        for s in &train {
            heldout.push(ScenarioSetup {
                seeds: file.heldout.seeds.clone(),
                ..s.clone()
            });
        }
        for (i, s) in file.heldout.scenarios.iter().enumerate() {
            heldout.push(setup(s, dir, &format!("heldout.scenarios[{i}]"))?);
        }
        let base_path = dir.join(&file.scenarios[0].path);
        let base_text = std::fs::read_to_string(&base_path)
            .with_context(|| format!("`scenarios[0].path`: cannot read {}", base_path.display()))?;
        let base_doc: DocumentMut = base_text
            .parse()
            .with_context(|| format!("{}: not TOML", base_path.display()))?;

        let mut parameters = Vec::new();
        for (i, p) in file.parameters.iter().enumerate() {
            parameters.push(parameter(p, &format!("parameters[{i}]"), &base_doc)?);
        }
        if file.objective.weights.is_empty() {
            bail!("`objective.weights`: expected at least one metric");
        }
        let mut metrics = Vec::new();
        for (m, w) in &file.objective.weights {
            let key = KeyPath::parse(m).with_context(|| format!("`objective.weights.\"{m}\"`"))?;
            if !w.is_finite() {
                bail!("`objective.weights.\"{m}\"`: expected a finite weight, found {w}");
            }
            metrics.push((key, *w));
        }
        if let Some(d) = file.objective.divergence_state_abs {
            if d.is_nan() || d <= 0.0 {
                bail!("`objective.divergence_state_abs`: expected a magnitude > 0, found {d}");
            }
        }
        if let Some(p) = file.search.population {
            if p < 2 {
                bail!("`search.population`: expected at least 2 candidates, found {p}");
            }
        }
        let sigma = file.search.sigma;
        if !(sigma > 0.0 && sigma <= 1.0) {
            bail!("`search.sigma`: expected a fraction in (0, 1], found {sigma}");
        }
        let compare = match &file.compare_with {
            None => None,
            Some(c) => {
                let cpath = dir.join(c);
                let ctext = std::fs::read_to_string(&cpath)
                    .with_context(|| format!("`compare_with`: cannot read {}", cpath.display()))?;
                let cdoc: DocumentMut = ctext
                    .parse()
                    .with_context(|| format!("`compare_with`: {} is not TOML", cpath.display()))?;
                let values = parameters
                    .iter()
                    .map(|p| {
                        p.keys[0].get_toml(&cdoc).with_context(|| {
                            format!(
                                "`compare_with`: {} has no value for `{}`",
                                cpath.display(),
                                p.name
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some(values)
            }
        };
        let tune = Self {
            path: path.to_path_buf(),
            text: text.to_string(),
            file,
            parameters,
            train,
            heldout,
            metrics,
            base_doc,
            base_path,
            compare,
        };
        // Every scenario must accept the starting values (a typo in a key is
        // caught here, by the scenario's own unknown-key check).
        let start: Vec<f64> = tune.parameters.iter().map(|p| p.start).collect();
        for s in tune.train.iter().chain(&tune.heldout) {
            let seed = s.seeds[0];
            tune.scenario(s, &start, seed).with_context(|| {
                format!(
                    "the starting parameters applied to {} (seed {seed})",
                    s.path.display()
                )
            })?;
        }
        Ok(tune)
    }

    /// The scenario document of one run: fixed overrides, the seed, the
    /// seed's randomisation and the candidate's parameter values.
    pub fn document(&self, s: &ScenarioSetup, values: &[f64], seed: u64) -> Result<DocumentMut> {
        let mut doc = s.doc.clone();
        KeyPath::parse("scenario.seed")?.set_toml(&mut doc, seed as f64, true)?;
        for (key, range, scale) in &s.randomize {
            let u = unit_from_seed(seed, key.as_str());
            let v = match scale {
                Scale::Linear => range[0] + u * (range[1] - range[0]),
                Scale::Log => (range[0].ln() + u * (range[1].ln() - range[0].ln())).exp(),
            };
            key.set_toml(&mut doc, v, false)?;
        }
        self.apply(&mut doc, values)?;
        Ok(doc)
    }

    /// The parameters' values written into a document.
    pub fn apply(&self, doc: &mut DocumentMut, values: &[f64]) -> Result<()> {
        for (p, v) in self.parameters.iter().zip(values) {
            for key in &p.keys {
                key.set_toml(doc, *v, p.integer)?;
            }
        }
        Ok(())
    }

    /// The scenario of one run, parsed and checked.
    pub fn scenario(&self, s: &ScenarioSetup, values: &[f64], seed: u64) -> Result<Scenario> {
        let doc = self.document(s, values, seed)?;
        Scenario::parse(&doc.to_string(), &s.path)
    }

    /// The first training scenario as written, with `values` applied: a
    /// ready-to-use scenario file.
    pub fn best_file_text(&self, values: &[f64]) -> Result<String> {
        let mut doc = self.base_doc.clone();
        self.apply(&mut doc, values)?;
        Ok(doc.to_string())
    }

    pub fn start(&self) -> Vec<f64> {
        self.parameters.iter().map(|p| p.start).collect()
    }

    /// Cost of one run summary (JSON): the weighted sum of the metrics, or
    /// why the run counts as a hard failure. A metric the summary does not
    /// have is an error naming it.
    pub fn cost(&self, summary: &serde_json::Value) -> Result<std::result::Result<f64, String>> {
        let missing: Vec<&str> = self
            .metrics
            .iter()
            .filter(|(k, _)| crate::keypath::get_json(summary, k).is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        if !missing.is_empty() {
            bail!(
                "`objective.weights`: the run summary has no {} (it has: {})",
                missing.join(", "),
                summary
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            );
        }
        if let Some(x) = summary.get("final_state").and_then(|v| v.as_array()) {
            // serde_json writes a non-finite number as null.
            let values: Vec<Option<f64>> = x.iter().map(|v| v.as_f64()).collect();
            if values.iter().any(|v| v.is_none_or(|v| !v.is_finite())) {
                return Ok(Err("diverged: non-finite state".into()));
            }
            if let Some(limit) = self.file.objective.divergence_state_abs {
                if let Some(v) = values.iter().flatten().find(|v| v.abs() > limit) {
                    return Ok(Err(format!("diverged: |state| = {v:.3e} > {limit}")));
                }
            }
        }
        if let Some(c) = summary.get("min_clearance_m").and_then(|v| v.as_f64()) {
            if c < 0.0 {
                return Ok(Err(format!("collision: min clearance {c:.3} m")));
            }
        }
        if self.file.objective.fail_if_goal_not_reached
            && summary.get("goal_reached").and_then(|v| v.as_bool()) == Some(false)
        {
            return Ok(Err("goal not reached".into()));
        }
        let mut cost = 0.0;
        for (k, w) in &self.metrics {
            let v = crate::keypath::get_json(summary, k).unwrap_or(f64::NAN);
            if !v.is_finite() {
                return Ok(Err(format!("diverged: metric {k} = {v}")));
            }
            cost += w * v;
        }
        Ok(Ok(cost))
    }
}

fn setup(s: &ScenarioSpec, dir: &Path, at: &str) -> Result<ScenarioSetup> {
    let path = dir.join(&s.path);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("`{at}.path`: cannot read {}", path.display()))?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("`{at}.path`: {} is not TOML", path.display()))?;
    if s.seeds.is_empty() {
        bail!("`{at}.seeds`: expected at least one seed");
    }
    for (k, v) in &s.set {
        let key = KeyPath::parse(k).with_context(|| format!("`{at}.set`"))?;
        let integer = key.is_integer(&doc);
        if integer && v.fract() != 0.0 {
            bail!("`{at}.set.\"{k}\"`: the scenario holds an integer there, found {v}");
        }
        key.set_toml(&mut doc, *v, integer)
            .with_context(|| format!("`{at}.set.\"{k}\"`"))?;
    }
    let mut randomize = Vec::new();
    for (i, r) in s.randomize.iter().enumerate() {
        let key = KeyPath::parse(&r.key).with_context(|| format!("`{at}.randomize[{i}].key`"))?;
        check_range(&r.range, r.scale, &format!("{at}.randomize[{i}].range"))?;
        randomize.push((key, r.range, r.scale));
    }
    Ok(ScenarioSetup {
        path,
        doc,
        seeds: s.seeds.clone(),
        randomize,
    })
}

fn check_range(range: &[f64; 2], scale: Scale, at: &str) -> Result<()> {
    let [lo, hi] = *range;
    if !(lo.is_finite() && hi.is_finite()) {
        bail!("`{at}`: expected finite bounds, found [{lo}, {hi}]");
    }
    if lo >= hi {
        bail!("`{at}`: expected min < max, found [{lo}, {hi}]");
    }
    if scale == Scale::Log && lo <= 0.0 {
        bail!("`{at}`: a log scale needs bounds > 0, found min = {lo}");
    }
    Ok(())
}

fn parameter(p: &ParameterSpec, at: &str, base: &DocumentMut) -> Result<Parameter> {
    let texts: Vec<&String> = match &p.key {
        Keys::One(k) => vec![k],
        Keys::Many(ks) => ks.iter().collect(),
    };
    if texts.is_empty() {
        bail!("`{at}.key`: expected at least one key path");
    }
    let keys = texts
        .iter()
        .map(|k| KeyPath::parse(k).with_context(|| format!("`{at}.key`")))
        .collect::<Result<Vec<_>>>()?;
    check_range(&p.range, p.scale, &format!("{at}.range"))?;
    let name = p.name.clone().unwrap_or_else(|| texts[0].clone());
    let start = match p.start {
        Some(s) => s,
        None => keys[0].get_toml(base).with_context(|| {
            format!("`{at}`: no `start` given and the first training scenario has no value")
        })?,
    };
    let [min, max] = p.range;
    if !(start >= min && start <= max) {
        bail!("`{at}.start`: expected a value in [{min}, {max}], found {start} (`{name}`)");
    }
    if p.integer && (min.fract() != 0.0 || max.fract() != 0.0) {
        bail!("`{at}.range`: an integer parameter needs whole bounds, found [{min}, {max}]");
    }
    Ok(Parameter {
        name,
        keys,
        min,
        max,
        scale: p.scale,
        integer: p.integer,
        start,
    })
}

/// A number in [0, 1) from a seed and a key (splitmix64 of both), so the
/// same seed gives the same draw for a key whatever else is randomised.
pub fn unit_from_seed(seed: u64, key: &str) -> f64 {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for b in key.bytes() {
        h = splitmix(h ^ u64::from(b));
    }
    (splitmix(h) >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

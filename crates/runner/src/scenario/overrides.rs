//! `--set KEY.PATH=VALUE`: a scenario key replaced from outside the file
//! (the command line, Python's `overrides={...}`).
//!
//! Overrides are written into the parsed TOML document before it is
//! deserialised, so an overridden value meets exactly the checks a value in
//! the file meets (unknown keys, types, ranges), and an error names the
//! override that caused it.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{DocumentMut, Value};

use super::keypath::KeyPath;
use super::Scenario;

/// One override: where it came from (`--set`), the key path and the value.
#[derive(Debug, Clone)]
pub struct Override {
    origin: String,
    key: KeyPath,
    value: Value,
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}={}",
            self.origin,
            self.key,
            self.value.to_string().trim()
        )
    }
}

impl Override {
    /// An override of `key` by `value`; `origin` says where it came from in
    /// error messages (`--set`, `overrides`).
    pub fn new(origin: &str, key: &str, value: Value) -> Result<Self> {
        let key = KeyPath::parse(key).with_context(|| format!("{origin} {key}"))?;
        Ok(Self {
            origin: origin.to_string(),
            key,
            value,
        })
    }

    /// `KEY.PATH=VALUE` as given to `--set`: the value is a TOML value
    /// (`1e-3`, `[1.0, 2.0]`, `true`, `"text"`); a bare word that is not one
    /// (`ekf`) is taken as a string.
    pub fn parse_assignment(origin: &str, text: &str) -> Result<Self> {
        let Some((key, value)) = text.split_once('=') else {
            bail!("{origin} {text}: expected KEY.PATH=VALUE, e.g. controller.horizon_steps=30");
        };
        let (key, value) = (key.trim(), value.trim());
        let parsed = match Value::from_str(value) {
            Ok(v) => v,
            Err(_) if is_bare_word(value) => Value::from(value),
            Err(e) => bail!(
                "{origin} {text}: expected a TOML value after `=` (a number, true/false, \"text\", [a, b], {{ k = v }}), found `{value}`: {}",
                e.to_string().trim()
            ),
        };
        Self::new(origin, key, parsed)
    }

    pub fn key(&self) -> &KeyPath {
        &self.key
    }

    /// Writes the value into a scenario document.
    pub fn apply(&self, doc: &mut DocumentMut) -> Result<()> {
        self.key
            .set_value(doc, self.value.clone())
            .with_context(|| self.to_string())
    }
}

/// The form of `--set` clap parses.
impl FromStr for Override {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Self> {
        // clap shows the error's outermost message only: flatten the chain.
        Self::parse_assignment("--set", text).map_err(|e: anyhow::Error| anyhow!("{e:#}"))
    }
}

fn is_bare_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

impl Scenario {
    /// Reads a scenario file with `overrides` written over its keys, then
    /// checks it as [`Scenario::load`] does.
    pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario file {}", path.display()))?;
        Self::parse_with(&text, path, overrides)
    }

    /// [`Scenario::parse`] of `text` with `overrides` applied to its TOML
    /// document first. A scenario the overrides make invalid is reported
    /// against the first override that makes it so, with the file's own
    /// message (`--set controller.nope=1: file.toml: unknown field ...`).
    pub fn parse_with(text: &str, path: &Path, overrides: &[Override]) -> Result<Self> {
        if overrides.is_empty() {
            return Self::parse(text, path);
        }
        let base = text
            .parse::<DocumentMut>()
            .map_err(|e| anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let mut doc = base.clone();
        for o in overrides {
            o.apply(&mut doc)?;
        }
        let error = match Self::parse(&doc.to_string(), path) {
            Ok(scenario) => return Ok(scenario),
            Err(e) => e,
        };
        // Which override broke it: the file alone may be the culprit, or
        // the first prefix of the overrides that fails.
        if let Err(own) = Self::parse(text, path) {
            return Err(own.context(format!(
                "{} (the file is invalid without the overrides too)",
                path.display()
            )));
        }
        let mut doc = base;
        for o in overrides {
            o.apply(&mut doc)?;
            if let Err(e) = Self::parse(&doc.to_string(), path) {
                return Err(e.context(o.to_string()));
            }
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> Override {
        text.parse().unwrap()
    }

    fn p1() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/bench/p1.toml")
    }

    #[test]
    fn values_are_toml_and_bare_words_strings() {
        let mut doc: DocumentMut = "[a]\nb = 1\n".parse().unwrap();
        for (o, want) in [
            ("a.b=2", "2"),
            ("a.b = 2.5e-3", "2.5e-3"),
            ("a.b=[1.0, 2.0]", "[1.0, 2.0]"),
            ("a.b=true", "true"),
            ("a.b=\"x y\"", "\"x y\""),
            ("a.b=ekf", "\"ekf\""),
            ("a.b=inf", "inf"),
            ("a.b={ k = 1 }", "{ k = 1 }"),
        ] {
            set(o).apply(&mut doc).unwrap();
            assert_eq!(doc["a"]["b"].to_string().trim(), want, "{o}");
        }
        for bad in ["a.b", "a..b=1", "a.b=[1,", "a.b=x y"] {
            let e = bad.parse::<Override>().unwrap_err();
            assert!(format!("{e:#}").contains("--set"), "{bad}: {e:#}");
        }
    }

    #[test]
    fn an_override_changes_the_scenario_as_the_file_would() {
        let s = Scenario::load_with(
            &p1(),
            &[
                set("controller.horizon_steps=25"),
                set("scenario.initial_state=[0.1, 3.0, 0.0, 0.0]"),
                set("controller.osqp.eps_abs=1e-5"),
                set("scenario.seed=7"),
            ],
        )
        .unwrap();
        assert_eq!(s.file.controller.mpc.horizon_steps, 25);
        assert_eq!(s.file.scenario.initial_state, vec![0.1, 3.0, 0.0, 0.0]);
        assert_eq!(s.file.controller.mpc.osqp.eps_abs, 1e-5);
        assert_eq!(s.file.scenario.seed, 7);
        // The same text in the file gives the same scenario.
        let text = std::fs::read_to_string(p1())
            .unwrap()
            .replace("horizon_steps = 40", "horizon_steps = 25");
        let from_file = Scenario::parse(&text, &p1()).unwrap();
        let from_set = Scenario::load_with(&p1(), &[set("controller.horizon_steps=25")]).unwrap();
        assert_eq!(from_file.file, from_set.file);
    }

    /// Keep-out rows are soft, so each adds a variable per node: 300
    /// obstacles on the flagship's 20 nodes are a 6,000-slack QP (a dense
    /// Hessian of ~300 MB), refused before anything is built; 2 pass.
    #[test]
    fn keep_out_slacks_count_toward_the_qp_size() {
        let flagship =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/quadrotor_figure8.toml");
        let many = Scenario::load_with(
            &flagship,
            &[set("perception.constraints.max_obstacles=300")],
        )
        .unwrap_err();
        let text = format!("{many:#}");
        assert!(
            text.contains("horizon_steps") && text.contains("max_obstacles"),
            "{text}"
        );
        Scenario::load_with(&flagship, &[set("perception.constraints.max_obstacles=2")]).unwrap();
    }

    #[test]
    fn errors_name_the_override_and_match_the_files() {
        let unknown = Scenario::load_with(
            &p1(),
            &[set("scenario.seed=3"), set("controller.horizon_stepz=30")],
        )
        .unwrap_err();
        let text = format!("{unknown:#}");
        assert!(
            text.starts_with("--set controller.horizon_stepz=30: ")
                && text.contains("unknown field `horizon_stepz`")
                && text.contains("p1.toml"),
            "{text}"
        );
        // The file with the same key gives the same message after the origin.
        let file_text = std::fs::read_to_string(p1()).unwrap().replace(
            "horizon_steps = 40",
            "horizon_steps = 40\nhorizon_stepz = 30",
        );
        let in_file = format!("{:#}", Scenario::parse(&file_text, &p1()).unwrap_err());
        assert!(
            in_file.contains("unknown field `horizon_stepz`"),
            "{in_file}"
        );

        let range = Scenario::load_with(&p1(), &[set("scenario.plant_rate_hz=-5")]).unwrap_err();
        let text = format!("{range:#}");
        assert!(
            text.starts_with("--set scenario.plant_rate_hz=-5: ")
                && text.contains("`plant_rate_hz`: expected a rate"),
            "{text}"
        );
        let ty =
            Scenario::load_with(&p1(), &[set("controller.horizon_steps=\"long\"")]).unwrap_err();
        assert!(format!("{ty:#}").contains("horizon_steps"), "{ty:#}");
        let index =
            Scenario::load_with(&p1(), &[set("scenario.initial_state[9]=1.0")]).unwrap_err();
        let text = format!("{index:#}");
        assert!(
            text.starts_with("--set scenario.initial_state[9]=1.0") && text.contains("not found"),
            "{text}"
        );
    }
}
